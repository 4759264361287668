import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import {
  AuthorizePaymentRequestSchema,
  CapturePaymentRequestSchema,
  GetPaymentRequestSchema,
  PaymentService,
  RefundPaymentRequestSchema,
  VoidPaymentRequestSchema,
} from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { badRequest, errorInfo } from "@shop/platform";
import { openDatabase, type Database } from "@shop/platform/database";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentService } from "../src/payment-service.js";
import { createSimulatedProcessor } from "../src/processor.js";
import { PaymentStore } from "../src/store.js";

const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));
let postgres: TestDatabase;
beforeAll(async () => {
  postgres = await createTestDatabase("payment");
});
afterAll(async () => {
  await postgres?.drop();
});

const ctx: HandlerContext = createHandlerContext({
  service: PaymentService,
  method: PaymentService.method.authorizePayment,
  protocolName: "test",
  requestMethod: "POST",
  url: "/shop.payment.v1.PaymentService",
});
const eur = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });
let n = 0;
const authorization = (cardToken = "tok_visa", key = `key-${Date.now()}-${n++}`) =>
  create(AuthorizePaymentRequestSchema, { idempotencyKey: key, orderId: `ord-${key}`, amount: eur(1999n), cardToken });

describe.each([
  { engine: "PGlite", open: () => openDatabase({ migrationsDir }) },
  { engine: "PostgreSQL", open: () => openDatabase({ url: postgres.url, migrationsDir }) },
])("the payment service on $engine", ({ open }) => {
  let db: Database;
  let payments: ReturnType<typeof createPaymentService>;
  beforeAll(async () => {
    db = await open();
    payments = createPaymentService({ store: new PaymentStore(db), processor: createSimulatedProcessor() });
  });
  afterAll(async () => {
    await db?.close();
  });
  const rowsFor = async (key: string) => (await db.query("SELECT 1 FROM payments WHERE idempotency_key = $1", [key])).rowCount;

  it("authorizes tok_visa, and the same key returns the same payment without authorizing twice", async () => {
    const request = authorization();
    const first = await payments.authorizePayment(request, ctx);
    const parallel = await Promise.all(Array.from({ length: 10 }, () => payments.authorizePayment(request, ctx)));
    expect(first.payment?.state).toBe(PaymentState.AUTHORIZED);
    expect(new Set(parallel.map((r) => r.payment?.paymentId))).toEqual(new Set([first.payment?.paymentId]));
    expect(await rowsFor(request.idempotencyKey)).toBe(1);
  });

  it("authorizes once even when the first calls for a key race each other", async () => {
    const request = authorization();
    const results = await Promise.all(Array.from({ length: 10 }, () => payments.authorizePayment(request, ctx)));
    expect(new Set(results.map((r) => r.payment?.paymentId)).size).toBe(1);
    expect(await rowsFor(request.idempotencyKey)).toBe(1);
  });

  it("declines tok_declined as a business result with a reason, not an error", async () => {
    const { payment } = await payments.authorizePayment(authorization("tok_declined"), ctx);
    expect(payment?.state).toBe(PaymentState.DECLINED);
    expect(payment?.declineReason).toMatch(/declined/);
  });

  it("fails tok_unavailable with UNAVAILABLE and records nothing", async () => {
    const request = authorization("tok_unavailable");
    const error = await payments.authorizePayment(request, ctx).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect(await rowsFor(request.idempotencyKey)).toBe(0);
  });

  it("refuses a key reused with different arguments with ALREADY_EXISTS", async () => {
    const request = authorization();
    await payments.authorizePayment(request, ctx);
    const different = create(AuthorizePaymentRequestSchema, { ...request, amount: eur(1n) });
    const error = await payments.authorizePayment(different, ctx).catch((e: unknown) => e);
    expect(errorInfo(error)?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("rejects a malformed authorization with a field violation per problem", async () => {
    const error = await payments
      .authorizePayment(create(AuthorizePaymentRequestSchema, { amount: { currencyCode: "euro", amountMinor: -5n } }), ctx)
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect(badRequest(error)?.fieldViolations.map((v) => v.field)).toEqual([
      "idempotency_key",
      "order_id",
      "card_token",
      "amount.currency_code",
      "amount.amount_minor",
    ]);
  });

  it("captures once, refunds once, and refuses to void a captured payment", async () => {
    const { payment } = await payments.authorizePayment(authorization(), ctx);
    const paymentId = payment!.paymentId;
    const capture = create(CapturePaymentRequestSchema, { paymentId });
    expect((await payments.capturePayment(capture, ctx)).payment?.state).toBe(PaymentState.CAPTURED);
    expect((await payments.capturePayment(capture, ctx)).payment?.state).toBe(PaymentState.CAPTURED);
    const voidError = await payments.voidPayment(create(VoidPaymentRequestSchema, { paymentId }), ctx).catch((e: unknown) => e);
    expect((voidError as ConnectError).code).toBe(Code.FailedPrecondition);
    const refund = create(RefundPaymentRequestSchema, { paymentId, reason: "order cancelled" });
    expect((await payments.refundPayment(refund, ctx)).payment?.state).toBe(PaymentState.REFUNDED);
    expect((await payments.refundPayment(refund, ctx)).payment?.state).toBe(PaymentState.REFUNDED);
  });

  it("voids an authorization, after which it cannot be captured", async () => {
    const { payment } = await payments.authorizePayment(authorization(), ctx);
    const paymentId = payment!.paymentId;
    expect((await payments.voidPayment(create(VoidPaymentRequestSchema, { paymentId }), ctx)).payment?.state).toBe(PaymentState.VOIDED);
    const error = await payments.capturePayment(create(CapturePaymentRequestSchema, { paymentId }), ctx).catch((e: unknown) => e);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_CAPTURABLE");
  });

  it("voids by idempotency key before any authorization, so a late authorization with it authorizes nothing", async () => {
    const request = authorization();
    const voided = await payments.voidPayment(create(VoidPaymentRequestSchema, { idempotencyKey: request.idempotencyKey }), ctx);
    expect(voided.payment?.state).toBe(PaymentState.VOIDED);
    const late = await payments.authorizePayment(request, ctx);
    expect(late.payment?.state).toBe(PaymentState.VOIDED);
    expect(await rowsFor(request.idempotencyKey)).toBe(1);
  });

  it("returns NOT_FOUND with reason PAYMENT_NOT_FOUND for an unknown payment", async () => {
    const error = await payments.getPayment(create(GetPaymentRequestSchema, { paymentId: "pay_nope" }), ctx).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
  });
});
