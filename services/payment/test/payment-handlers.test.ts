import { type Client, Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { type Payment, PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { badRequest, errorInfo, retryInfo } from "@shop/platform";
import { type Database, openDatabase } from "@shop/platform/database";
import { refusal } from "@shop/platform/testing/errors";
import { validateRequests } from "@shop/platform/validation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentService, type PaymentDeps } from "../src/payment-service.js";
import { PaymentStore } from "../src/store.js";
import { migrationsDir, RecordingProcessor, uniqueKey } from "./engines.js";

/**
 * The payment handlers over their real store on an in-memory PGlite database and the simulated
 * card processor (recording what reaches it), called through a Connect client over an in-memory
 * router transport: messages and errors with their google.rpc details are serialized as on the wire.
 */
let db: Database;
let store: PaymentStore;
let processor: RecordingProcessor;
/** Waits up to 5 s for an authorization of the same key that is at the processor. */
let payments: Client<typeof PaymentService>;
/** Waits only 100 ms for one, to show what a caller is told when the processor is slow. */
let impatient: Client<typeof PaymentService>;

function clientFor(options: Partial<PaymentDeps>): Client<typeof PaymentService> {
  const impl = createPaymentService({ store, processor, ...options });
  return createClient(
    PaymentService,
    createRouterTransport(({ service }) => service(PaymentService, impl), { router: { interceptors: [validateRequests] } }),
  );
}

beforeAll(async () => {
  db = await openDatabase({ migrationsDir });
  store = new PaymentStore(db);
  processor = new RecordingProcessor();
  payments = clientFor({ inFlightWaitMs: 5_000 });
  impatient = clientFor({ inFlightWaitMs: 100 });
});

afterAll(async () => {
  await db?.close();
});

const EUR = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });

function authorizationFor(key: string, cardToken = "tok_visa", amountMinor = 4999n) {
  return { idempotencyKey: key, orderId: `ord-${key}`, amount: EUR(amountMinor), cardToken };
}

async function authorize(cardToken = "tok_visa", key = uniqueKey()): Promise<Payment> {
  const { payment } = await payments.authorizePayment(authorizationFor(key, cardToken));
  expect(payment).toBeDefined();
  return payment!;
}

const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((violation) => violation.field);
const callsFor = (kind: string, id: string) => processor.calls.filter((call) => call === `${kind}:${id}`).length;

async function processorRefOf(paymentId: string): Promise<string> {
  const ref = (await store.byId(paymentId))?.processorRef ?? "";
  expect(ref).toMatch(/^sim_/);
  return ref;
}

describe("AuthorizePayment through an in-memory Connect transport", () => {
  it("authorizes tok_visa, and answers the same key with the same payment without reaching the processor again", async () => {
    const key = uniqueKey();
    const { payment } = await payments.authorizePayment(authorizationFor(key));
    expect(payment?.state).toBe(PaymentState.AUTHORIZED);
    expect(payment?.paymentId).toMatch(/^pay_[0-9a-f]{32}$/);
    expect(payment?.orderId).toBe(`ord-${key}`);
    expect(payment?.amount).toMatchObject(EUR(4999n));
    const again = await payments.authorizePayment(authorizationFor(key));
    expect(again.payment).toEqual(payment);
    expect(callsFor("authorize", key)).toBe(1);
  });

  it("records tok_declined as a DECLINED payment with its reason, not as an error", async () => {
    const declined = await authorize("tok_declined");
    expect(declined.state).toBe(PaymentState.DECLINED);
    expect(declined.declineReason).toBe("card declined: insufficient funds");
    expect((await payments.getPayment({ paymentId: declined.paymentId })).payment?.state).toBe(PaymentState.DECLINED);
  });

  it("returns UNAVAILABLE with reason PROCESSOR_UNAVAILABLE and a retry delay for tok_unavailable, keeping nothing", async () => {
    const key = uniqueKey();
    const error = await refusal(payments.authorizePayment(authorizationFor(key, "tok_unavailable")));
    expect(error.code).toBe(Code.Unavailable);
    expect(errorInfo(error)?.reason).toBe("PROCESSOR_UNAVAILABLE");
    expect(retryInfo(error)?.retryDelay?.seconds).toBe(1n);
    // Nothing was kept for the key: a retry goes to the processor again rather than waiting on a claim.
    const retried = await refusal(impatient.authorizePayment(authorizationFor(key, "tok_unavailable")));
    expect(errorInfo(retried)?.reason).toBe("PROCESSOR_UNAVAILABLE");
    expect(callsFor("authorize", key)).toBe(2);
    expect(await store.byKey(key)).toBeUndefined();
  });

  it("returns ALREADY_EXISTS with reason IDEMPOTENCY_KEY_REUSED for a key reused with another amount, card or order", async () => {
    const key = uniqueKey();
    const { payment } = await payments.authorizePayment(authorizationFor(key));
    const reused = [
      authorizationFor(key, "tok_visa", 5000n),
      authorizationFor(key, "tok_declined"),
      { ...authorizationFor(key), orderId: "ord-someone-else" },
      { ...authorizationFor(key), amount: { currencyCode: "USD", amountMinor: 4999n } },
    ];
    for (const request of reused) {
      const error = await refusal(payments.authorizePayment(request));
      expect(error.code).toBe(Code.AlreadyExists);
      expect(errorInfo(error)?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(errorInfo(error)?.metadata.payment_id).toBe(payment?.paymentId);
    }
    expect(callsFor("authorize", key)).toBe(1);
  });

  it("returns INVALID_ARGUMENT with a field violation for each missing or malformed field, reaching no processor", async () => {
    const before = processor.calls.length;
    const empty = await refusal(payments.authorizePayment({}));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(fields(empty)).toEqual(["idempotency_key", "order_id", "amount", "card_token"]);
    const amount = { currencyCode: "eur", amountMinor: -1n };
    const malformed = await refusal(payments.authorizePayment({ ...authorizationFor(uniqueKey()), amount }));
    expect(fields(malformed)).toEqual(["amount.currency_code", "amount.amount_minor"]);
    expect(processor.calls.length).toBe(before);
  });

  it("answers a repeat that arrives while the first is at the processor with the first's payment, authorizing once", async () => {
    const key = uniqueKey();
    const gate = processor.hold();
    try {
      const first = payments.authorizePayment(authorizationFor(key));
      await gate.reached;
      const repeat = payments.authorizePayment(authorizationFor(key));
      // The repeat cannot see the PENDING claim by id, only wait for it.
      await new Promise((resolve) => setTimeout(resolve, 60));
      gate.release();
      const [a, b] = await Promise.all([first, repeat]);
      expect(b.payment).toEqual(a.payment);
      expect(a.payment?.state).toBe(PaymentState.AUTHORIZED);
    } finally {
      gate.release();
    }
    expect(callsFor("authorize", key)).toBe(1);
  });

  it("returns UNAVAILABLE with reason PAYMENT_IN_PROGRESS and a retry delay when the first is still at the processor", async () => {
    const key = uniqueKey();
    const gate = processor.hold();
    let first: Promise<unknown> | undefined;
    try {
      first = payments.authorizePayment(authorizationFor(key));
      await gate.reached;
      const error = await refusal(impatient.authorizePayment(authorizationFor(key)));
      expect(error.code).toBe(Code.Unavailable);
      expect(errorInfo(error)?.reason).toBe("PAYMENT_IN_PROGRESS");
      expect(retryInfo(error)?.retryDelay?.nanos).toBe(500_000_000);
    } finally {
      gate.release();
      await first;
    }
    expect(callsFor("authorize", key)).toBe(1);
  });
});

describe("CapturePayment through an in-memory Connect transport", () => {
  it("captures an authorized payment once; a repeated capture is a no-op", async () => {
    const { paymentId } = await authorize();
    expect((await payments.capturePayment({ paymentId })).payment?.state).toBe(PaymentState.CAPTURED);
    expect((await payments.capturePayment({ paymentId })).payment?.state).toBe(PaymentState.CAPTURED);
    expect(callsFor("capture", await processorRefOf(paymentId))).toBe(1);
  });

  it("returns FAILED_PRECONDITION with reason PAYMENT_NOT_CAPTURABLE for a declined or voided payment", async () => {
    const declined = await authorize("tok_declined");
    const error = await refusal(payments.capturePayment({ paymentId: declined.paymentId }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_CAPTURABLE");
    expect(errorInfo(error)?.metadata).toMatchObject({ payment_id: declined.paymentId, state: "DECLINED" });

    const voided = await authorize();
    await payments.voidPayment({ paymentId: voided.paymentId });
    const afterVoid = await refusal(payments.capturePayment({ paymentId: voided.paymentId }));
    expect(errorInfo(afterVoid)?.metadata.state).toBe("VOIDED");
  });

  it("returns NOT_FOUND with reason PAYMENT_NOT_FOUND for an unknown payment", async () => {
    const error = await refusal(payments.capturePayment({ paymentId: "pay_unknown" }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
    expect(errorInfo(error)?.metadata.payment_id).toBe("pay_unknown");
  });

  it("returns INVALID_ARGUMENT with a payment_id field violation when none is given", async () => {
    const error = await refusal(payments.capturePayment({}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["payment_id"]);
  });
});

describe("VoidPayment through an in-memory Connect transport", () => {
  it("voids an authorization by payment id; a repeated void is a no-op", async () => {
    const { paymentId } = await authorize();
    expect((await payments.voidPayment({ paymentId })).payment?.state).toBe(PaymentState.VOIDED);
    expect((await payments.voidPayment({ paymentId })).payment?.state).toBe(PaymentState.VOIDED);
    expect(callsFor("void", await processorRefOf(paymentId))).toBe(1);
  });

  it("voids an authorization by its idempotency key", async () => {
    const key = uniqueKey();
    const { paymentId } = await authorize("tok_visa", key);
    const { payment } = await payments.voidPayment({ idempotencyKey: key });
    expect(payment?.paymentId).toBe(paymentId);
    expect(payment?.state).toBe(PaymentState.VOIDED);
  });

  it("voids an unknown key ahead of time, so a later authorization with it holds nothing", async () => {
    const key = uniqueKey();
    expect((await payments.voidPayment({ idempotencyKey: key })).payment?.state).toBe(PaymentState.VOIDED);
    const late = await authorize("tok_visa", key);
    expect(late.state).toBe(PaymentState.VOIDED);
    expect(callsFor("authorize", key)).toBe(0);
  });

  it("leaves a declined payment as it is", async () => {
    const declined = await authorize("tok_declined");
    expect((await payments.voidPayment({ paymentId: declined.paymentId })).payment?.state).toBe(PaymentState.DECLINED);
  });

  it("returns FAILED_PRECONDITION with reason PAYMENT_NOT_VOIDABLE for a captured payment", async () => {
    const { paymentId } = await authorize();
    await payments.capturePayment({ paymentId });
    const error = await refusal(payments.voidPayment({ paymentId }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_VOIDABLE");
    expect(errorInfo(error)?.metadata.state).toBe("CAPTURED");
  });

  it("returns NOT_FOUND with reason PAYMENT_NOT_FOUND for an unknown payment id", async () => {
    const error = await refusal(payments.voidPayment({ paymentId: "pay_unknown" }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
  });

  it("returns INVALID_ARGUMENT with the message's rule when neither a payment id nor a key is given", async () => {
    const error = await refusal(payments.voidPayment({}));
    expect(error.code).toBe(Code.InvalidArgument);
    // A rule of the whole message (buf.validate.message CEL): no one field is at fault.
    expect(badRequest(error)?.fieldViolations.map(({ field, description }) => ({ field, description }))).toEqual([
      { field: "", description: "set payment_id or idempotency_key" },
    ]);
  });
});

describe("RefundPayment through an in-memory Connect transport", () => {
  it("refunds a captured payment once, keeping the reason; a repeated refund is a no-op", async () => {
    const { paymentId } = await authorize();
    await payments.capturePayment({ paymentId });
    expect((await payments.refundPayment({ paymentId, reason: "order cancelled" })).payment?.state).toBe(PaymentState.REFUNDED);
    expect((await payments.refundPayment({ paymentId, reason: "again" })).payment?.state).toBe(PaymentState.REFUNDED);
    expect(callsFor("refund", await processorRefOf(paymentId))).toBe(1);
    const { rows } = await db.query<{ refund_reason: string }>("SELECT refund_reason FROM payments WHERE payment_id = $1", [paymentId]);
    expect(rows[0]?.refund_reason).toBe("order cancelled");
  });

  it("returns FAILED_PRECONDITION with reason PAYMENT_NOT_REFUNDABLE for a payment that was never captured", async () => {
    const { paymentId } = await authorize();
    const error = await refusal(payments.refundPayment({ paymentId }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_REFUNDABLE");
    expect(errorInfo(error)?.metadata.state).toBe("AUTHORIZED");
  });

  it("returns NOT_FOUND with reason PAYMENT_NOT_FOUND for an unknown payment", async () => {
    const error = await refusal(payments.refundPayment({ paymentId: "pay_unknown" }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
  });

  it("returns INVALID_ARGUMENT with a payment_id field violation when none is given", async () => {
    const error = await refusal(payments.refundPayment({ reason: "no id" }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["payment_id"]);
  });
});

describe("GetPayment through an in-memory Connect transport", () => {
  it("returns the payment as it now is", async () => {
    const authorized = await authorize();
    const { payment } = await payments.getPayment({ paymentId: authorized.paymentId });
    expect(payment).toEqual(authorized);
    await payments.capturePayment({ paymentId: authorized.paymentId });
    expect((await payments.getPayment({ paymentId: authorized.paymentId })).payment?.state).toBe(PaymentState.CAPTURED);
  });

  it("returns NOT_FOUND with reason PAYMENT_NOT_FOUND for an unknown payment", async () => {
    const error = await refusal(payments.getPayment({ paymentId: "pay_unknown" }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
  });

  it("returns INVALID_ARGUMENT with a payment_id field violation when none is given", async () => {
    const error = await refusal(payments.getPayment({}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["payment_id"]);
  });
});
