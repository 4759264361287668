import { randomUUID } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import type { AuthorizePaymentRequest, PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { alreadyExists, failedPrecondition, invalidArgument, notFound, type FieldViolation } from "@shop/platform";
import type { CardProcessor } from "./processor.js";
import type { PaymentRecord, PaymentStore } from "./store.js";

/** What the payment handlers need. */
export interface PaymentDeps {
  store: PaymentStore;
  processor: CardProcessor;
}

const CURRENCY = /^[A-Z]{3}$/;

/**
 * The PaymentService handlers. Every method is safe to retry: authorization by its idempotency
 * key, the others because each moves a payment only from the one state it acts on.
 */
export function createPaymentService({ store, processor }: PaymentDeps): ServiceImpl<typeof PaymentService> {
  async function existing(paymentId: string): Promise<PaymentRecord> {
    if (!paymentId) throw invalidArgument([{ field: "payment_id", description: "must be set" }]);
    const record = await store.byId(paymentId);
    if (!record) throw notFound("PAYMENT_NOT_FOUND", { type: "shop.payment.v1.Payment", name: paymentId });
    return record;
  }

  function refuse(record: PaymentRecord, reason: string, action: string): never {
    const state = PaymentState[record.payment.state];
    throw failedPrecondition(reason, `cannot ${action} a ${state} payment`, { payment_id: record.payment.paymentId, state });
  }

  return {
    async authorizePayment(request) {
      const violations = validateAuthorization(request);
      if (violations.length > 0) throw invalidArgument(violations);
      const amount = request.amount!;
      const previous = await store.byKey(request.idempotencyKey);
      if (previous) return { payment: sameRequestOrRefuse(previous, request).payment };

      const outcome = await processor.authorize(request.cardToken, amount);
      const stored = await store.insertOnce({
        paymentId: `pay_${randomUUID()}`,
        idempotencyKey: request.idempotencyKey,
        orderId: request.orderId,
        amount,
        cardToken: request.cardToken,
        processorRef: outcome.approved ? outcome.reference : "",
        state: outcome.approved ? PaymentState.AUTHORIZED : PaymentState.DECLINED,
        declineReason: outcome.approved ? "" : outcome.reason,
      });
      // A concurrent call with the same key got there first: ours is surplus, so drop its hold.
      if (outcome.approved && stored.processorRef !== outcome.reference) await processor.void(outcome.reference);
      return { payment: sameRequestOrRefuse(stored, request).payment };
    },

    async capturePayment({ paymentId }) {
      const record = await existing(paymentId);
      if (record.payment.state === PaymentState.CAPTURED) return { payment: record.payment };
      if (record.payment.state !== PaymentState.AUTHORIZED) refuse(record, "PAYMENT_NOT_CAPTURABLE", "capture");
      await processor.capture(record.processorRef, record.payment.amount!);
      const after = await store.transition(paymentId, PaymentState.AUTHORIZED, PaymentState.CAPTURED);
      if (after?.payment.state !== PaymentState.CAPTURED) refuse(after ?? record, "PAYMENT_NOT_CAPTURABLE", "capture");
      return { payment: after.payment };
    },

    async voidPayment({ paymentId, idempotencyKey }) {
      if (!paymentId && !idempotencyKey) {
        throw invalidArgument([{ field: "payment_id", description: "set payment_id or idempotency_key" }]);
      }
      const record = paymentId ? await existing(paymentId) : ((await store.byKey(idempotencyKey)) ?? (await tombstone(store, idempotencyKey)));
      const { state } = record.payment;
      if (state === PaymentState.VOIDED || state === PaymentState.DECLINED) return { payment: record.payment };
      if (state !== PaymentState.AUTHORIZED) refuse(record, "PAYMENT_ALREADY_CAPTURED", "void");
      await processor.void(record.processorRef);
      const after = await store.transition(record.payment.paymentId, PaymentState.AUTHORIZED, PaymentState.VOIDED);
      if (after?.payment.state !== PaymentState.VOIDED) refuse(after ?? record, "PAYMENT_ALREADY_CAPTURED", "void");
      return { payment: after.payment };
    },

    async refundPayment({ paymentId, reason }) {
      const record = await existing(paymentId);
      if (record.payment.state === PaymentState.REFUNDED) return { payment: record.payment };
      if (record.payment.state !== PaymentState.CAPTURED) refuse(record, "PAYMENT_NOT_REFUNDABLE", "refund");
      await processor.refund(record.processorRef, record.payment.amount!);
      const after = await store.transition(paymentId, PaymentState.CAPTURED, PaymentState.REFUNDED, reason || "refunded");
      if (after?.payment.state !== PaymentState.REFUNDED) refuse(after ?? record, "PAYMENT_NOT_REFUNDABLE", "refund");
      return { payment: after.payment };
    },

    async getPayment({ paymentId }) {
      return { payment: (await existing(paymentId)).payment };
    },
  };
}

/** Records a key as voided before any authorization with it, so none will ever go through. */
function tombstone(store: PaymentStore, idempotencyKey: string): Promise<PaymentRecord> {
  return store.insertOnce({
    paymentId: `pay_${randomUUID()}`,
    idempotencyKey,
    orderId: "",
    amount: { $typeName: "shop.type.v1.Money", currencyCode: "", amountMinor: 0n },
    cardToken: "",
    processorRef: "",
    state: PaymentState.VOIDED,
    declineReason: "",
  });
}

/** The stored payment for a repeated key — unless the key now comes with different arguments. */
function sameRequestOrRefuse(record: PaymentRecord, request: AuthorizePaymentRequest): PaymentRecord {
  const isTombstone = record.payment.state === PaymentState.VOIDED && record.cardToken === "";
  const same =
    record.payment.orderId === request.orderId &&
    record.cardToken === request.cardToken &&
    record.payment.amount?.currencyCode === request.amount?.currencyCode &&
    record.payment.amount?.amountMinor === request.amount?.amountMinor;
  if (isTombstone || same) return record;
  throw alreadyExists("IDEMPOTENCY_KEY_REUSED", `idempotency key "${request.idempotencyKey}" was already used for a different payment`, {
    payment_id: record.payment.paymentId,
  });
}

function validateAuthorization(request: AuthorizePaymentRequest): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (!request.idempotencyKey) violations.push({ field: "idempotency_key", description: "must be set" });
  if (!request.orderId) violations.push({ field: "order_id", description: "must be set" });
  if (!request.cardToken) violations.push({ field: "card_token", description: "must be set, e.g. tok_visa" });
  if (!request.amount) violations.push({ field: "amount", description: "must be set" });
  else {
    if (!CURRENCY.test(request.amount.currencyCode)) violations.push({ field: "amount.currency_code", description: "must be an ISO 4217 code such as EUR" });
    if (request.amount.amountMinor <= 0n) violations.push({ field: "amount.amount_minor", description: "must be positive" });
  }
  return violations;
}
