import { create, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { type Payment, PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import {
  AuthorizePaymentRequestSchema,
  CapturePaymentRequestSchema,
  GetPaymentRequestSchema,
  PaymentService,
  RefundPaymentRequestSchema,
  VoidPaymentRequestSchema,
} from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { errorInfo } from "@shop/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentService } from "../src/payment-service.js";
import { PaymentStore } from "../src/store.js";
import { type EngineDatabase, engines, RecordingProcessor, uniqueKey } from "./engines.js";

/** The payment handlers with their real store and the simulated processor, on both engines. */
describe.each(engines)("payments on $engine", ({ open }) => {
  let handle: EngineDatabase;
  let store: PaymentStore;
  let processor: RecordingProcessor;
  let payments: ReturnType<typeof createPaymentService>;
  beforeAll(async () => {
    handle = await open();
    store = new PaymentStore(handle.db);
    processor = new RecordingProcessor();
    payments = createPaymentService({ store, processor, staleClaimMs: 300, inFlightWaitMs: 5_000 });
  });
  afterAll(async () => {
    await handle?.dispose();
  });

  const ctx = (method: DescMethod) =>
    createHandlerContext({
      service: PaymentService,
      method,
      protocolName: "grpc",
      requestMethod: "POST",
      url: `/${PaymentService.typeName}/${method.name}`,
    });
  const fail = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.fail("expected an error"),
      (e: unknown) => ConnectError.from(e),
    );

  function authorize(key: string, cardToken = "tok_visa", amountMinor = 4999n, service = payments) {
    const request = create(AuthorizePaymentRequestSchema, {
      idempotencyKey: key,
      orderId: key,
      amount: { currencyCode: "EUR", amountMinor },
      cardToken,
    });
    return Promise.resolve(service.authorizePayment(request, ctx(PaymentService.method.authorizePayment))).then(
      (r) => r.payment as Payment,
    );
  }
  const capture = (paymentId: string) =>
    Promise.resolve(
      payments.capturePayment(create(CapturePaymentRequestSchema, { paymentId }), ctx(PaymentService.method.capturePayment)),
    ).then((r) => r.payment as Payment);
  const voidById = (paymentId: string) =>
    Promise.resolve(payments.voidPayment(create(VoidPaymentRequestSchema, { paymentId }), ctx(PaymentService.method.voidPayment))).then(
      (r) => r.payment as Payment,
    );
  const voidByKey = (idempotencyKey: string) =>
    Promise.resolve(
      payments.voidPayment(create(VoidPaymentRequestSchema, { idempotencyKey }), ctx(PaymentService.method.voidPayment)),
    ).then((r) => r.payment as Payment);
  const refund = (paymentId: string) =>
    Promise.resolve(
      payments.refundPayment(
        create(RefundPaymentRequestSchema, { paymentId, reason: "order cancelled by customer" }),
        ctx(PaymentService.method.refundPayment),
      ),
    ).then((r) => r.payment as Payment);
  const get = (paymentId: string) =>
    Promise.resolve(payments.getPayment(create(GetPaymentRequestSchema, { paymentId }), ctx(PaymentService.method.getPayment))).then(
      (r) => r.payment as Payment,
    );

  it("authorizes tok_visa, and the same key returns the same payment without a second authorization", async () => {
    const key = uniqueKey();
    const first = await authorize(key);
    expect(first.state).toBe(PaymentState.AUTHORIZED);
    expect(first.paymentId).toMatch(/^pay_/);
    expect(first.amount).toMatchObject({ currencyCode: "EUR", amountMinor: 4999n });
    const again = await authorize(key);
    expect(again).toEqual(first);
    expect(processor.calls.filter((c) => c === `authorize:${key}`)).toHaveLength(1);
    expect(await get(first.paymentId)).toEqual(first);
  });

  it("reaches the processor once for 20 concurrent authorizations with one key", async () => {
    // A claim here never goes stale (the suite's 300 ms would let a slow machine take one over, which
    // is the takeover test's subject, not this one's): the 20 calls meet only the claim itself.
    const patient = createPaymentService({ store, processor, staleClaimMs: 600_000, inFlightWaitMs: 30_000 });
    const key = uniqueKey();
    const results = await Promise.all(Array.from({ length: 20 }, () => authorize(key, "tok_visa", 4999n, patient)));
    expect(new Set(results.map((p) => p.paymentId)).size).toBe(1);
    expect(results.every((p) => p.state === PaymentState.AUTHORIZED)).toBe(true);
    expect(processor.calls.filter((c) => c === `authorize:${key}`)).toHaveLength(1);
    const { rows } = await handle.db.query<{ n: bigint }>("SELECT count(*) AS n FROM payments WHERE idempotency_key = $1", [key]);
    expect(rows[0]?.n).toBe(1n);
  });

  it("refuses a key reused with a different amount as ALREADY_EXISTS", async () => {
    const key = uniqueKey();
    await authorize(key, "tok_visa", 100n);
    const error = await fail(authorize(key, "tok_visa", 200n));
    expect(error.code).toBe(Code.AlreadyExists);
    expect(errorInfo(error)?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("records tok_declined as a DECLINED payment with its reason, not an error", async () => {
    const key = uniqueKey();
    const declined = await authorize(key, "tok_declined");
    expect(declined.state).toBe(PaymentState.DECLINED);
    expect(declined.declineReason).toMatch(/declined/);
    expect((await voidById(declined.paymentId)).state).toBe(PaymentState.DECLINED);
    const error = await fail(capture(declined.paymentId));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_CAPTURABLE");
  });

  it("declines an unknown card token as a business result", async () => {
    const declined = await authorize(uniqueKey(), "tok_mystery");
    expect(declined.state).toBe(PaymentState.DECLINED);
    expect(declined.declineReason).toMatch(/unknown card token/);
  });

  it("fails tok_unavailable with UNAVAILABLE and keeps nothing, so a retry with the key can succeed", async () => {
    const key = uniqueKey();
    const error = await fail(authorize(key, "tok_unavailable"));
    expect(error.code).toBe(Code.Unavailable);
    expect(errorInfo(error)?.reason).toBe("PROCESSOR_UNAVAILABLE");
    expect(await store.byKey(key)).toBeUndefined();
    expect((await authorize(key, "tok_visa")).state).toBe(PaymentState.AUTHORIZED);
  });

  it("captures an authorized payment once, then refunds it once; repeats are no-ops", async () => {
    const payment = await authorize(uniqueKey());
    expect((await capture(payment.paymentId)).state).toBe(PaymentState.CAPTURED);
    expect((await capture(payment.paymentId)).state).toBe(PaymentState.CAPTURED);
    const ref = await processorRefOf(payment.paymentId);
    expect(processor.calls.filter((c) => c === `capture:${ref}`)).toHaveLength(1);
    const voidError = await fail(voidById(payment.paymentId));
    expect(voidError.code).toBe(Code.FailedPrecondition);
    expect((await refund(payment.paymentId)).state).toBe(PaymentState.REFUNDED);
    expect((await refund(payment.paymentId)).state).toBe(PaymentState.REFUNDED);
    expect(processor.calls.filter((c) => c === `refund:${ref}`)).toHaveLength(1);
    const { rows } = await handle.db.query<{ refund_reason: string }>("SELECT refund_reason FROM payments WHERE payment_id = $1", [
      payment.paymentId,
    ]);
    expect(rows[0]?.refund_reason).toBe("order cancelled by customer");
  });

  it("refuses to refund a payment that was never captured", async () => {
    const payment = await authorize(uniqueKey());
    const error = await fail(refund(payment.paymentId));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_REFUNDABLE");
  });

  it("voids an authorization by id or by key; a repeated void is a no-op and capture is then refused", async () => {
    const byId = await authorize(uniqueKey());
    expect((await voidById(byId.paymentId)).state).toBe(PaymentState.VOIDED);
    expect((await voidById(byId.paymentId)).state).toBe(PaymentState.VOIDED);
    expect((await fail(capture(byId.paymentId))).code).toBe(Code.FailedPrecondition);
    const key = uniqueKey();
    const byKey = await authorize(key);
    const voided = await voidByKey(key);
    expect(voided.paymentId).toBe(byKey.paymentId);
    expect(voided.state).toBe(PaymentState.VOIDED);
  });

  it("voids an unknown key ahead of time, so a late authorization with it holds nothing", async () => {
    const key = uniqueKey();
    expect((await voidByKey(key)).state).toBe(PaymentState.VOIDED);
    const late = await authorize(key);
    expect(late.state).toBe(PaymentState.VOIDED);
    expect(processor.calls.filter((c) => c === `authorize:${key}`)).toHaveLength(0);
  });

  it("drops the hold of an authorization that was voided by key while it was at the processor", async () => {
    const key = uniqueKey();
    const gate = processor.hold();
    const pending = authorize(key);
    await gate.reached;
    const voided = await voidByKey(key);
    expect(voided.state).toBe(PaymentState.VOIDED);
    gate.release();
    const answer = await pending;
    expect(answer.state).toBe(PaymentState.VOIDED);
    expect(processor.count("void")).toBeGreaterThanOrEqual(1);
    expect(processor.calls.at(-1)).toMatch(/^void:sim_/);
  });

  it("takes over an authorization whose caller died at the processor, once its claim is stale", async () => {
    const key = uniqueKey();
    const amount = { $typeName: "shop.type.v1.Money" as const, currencyCode: "EUR", amountMinor: 4999n };
    const { claimed } = await store.claim(key, `pay_dead_caller_${key}`, { orderId: key, amount, cardToken: "tok_visa" }, 300);
    expect(claimed).toBe(true);
    const payment = await authorize(key);
    expect(payment.state).toBe(PaymentState.AUTHORIZED);
    expect(processor.calls.filter((c) => c === `authorize:${key}`)).toHaveLength(1);
  });

  it("lets exactly one of a concurrent capture and void through to the processor", async () => {
    for (let i = 0; i < 5; i++) {
      const payment = await authorize(uniqueKey());
      const ref = await processorRefOf(payment.paymentId);
      const [captured, voided] = await Promise.allSettled([capture(payment.paymentId), voidById(payment.paymentId)]);
      expect([captured.status, voided.status].filter((s) => s === "fulfilled")).toHaveLength(1);
      expect(processor.calls.filter((c) => c.endsWith(ref))).toHaveLength(1);
    }
  });

  it("returns NOT_FOUND with reason PAYMENT_NOT_FOUND for an unknown payment", async () => {
    const error = await fail(get("pay_unknown"));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
    expect(errorInfo(await fail(capture("pay_unknown")))?.reason).toBe("PAYMENT_NOT_FOUND");
  });

  /** The processor's reference for a payment: not in the public message, so read from the store. */
  async function processorRefOf(paymentId: string): Promise<string> {
    const ref = (await store.byId(paymentId))?.processorRef;
    expect(ref).toMatch(/^sim_/);
    return ref!;
  }
});
