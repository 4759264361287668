import { setTimeout as sleep } from "node:timers/promises";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { AuthorizePaymentRequest, PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { alreadyExists, failedPrecondition, notFound, unavailable } from "@shop/platform";
import type { AuthorizationOutcome, CardProcessor } from "./processor.js";
import { newPaymentId, type PaymentChange, type PaymentRecord, type PaymentStore, type PaymentTarget } from "./store.js";

/** What the payment handlers need. */
export interface PaymentDeps {
  store: PaymentStore;
  processor: CardProcessor;
  /** A PENDING authorization older than this is taken to be abandoned by a crashed call (default 30 s). */
  staleClaimMs?: number;
  /** How long a repeated AuthorizePayment waits for the same key's call in flight (default 5 s). */
  inFlightWaitMs?: number;
}

const POLL_MS = 25;

/**
 * The PaymentService handlers. Every method is safe to retry: authorization by its idempotency
 * key (the first caller claims it; the processor is called once per key), the others because
 * each moves a locked payment only from the one state it acts on. Requests reach them checked
 * against their buf.validate rules (payment_service.proto).
 */
export function createPaymentService(deps: PaymentDeps): ServiceImpl<typeof PaymentService> {
  const { store, processor } = deps;
  const staleClaimMs = deps.staleClaimMs ?? 30_000;
  const inFlightWaitMs = deps.inFlightWaitMs ?? 5_000;

  /** Locks the payment, lets `decide` act on it, and maps a missing payment to NOT_FOUND. */
  async function change(target: PaymentTarget, decide: (record: PaymentRecord) => Promise<PaymentChange | undefined>) {
    const record = await store.change(target, decide);
    if (!record) {
      const name = "paymentId" in target ? target.paymentId : target.idempotencyKey;
      throw notFound("PAYMENT_NOT_FOUND", { type: "shop.payment.v1.Payment", name }, { payment_id: name });
    }
    return { payment: record.payment };
  }

  async function authorize(request: AuthorizePaymentRequest, ctx: HandlerContext) {
    const args = { orderId: request.orderId, amount: request.amount!, cardToken: request.cardToken };
    const waitUntil = Date.now() + inFlightWaitMs;
    for (;;) {
      const { claimed, record } = await store.claim(request.idempotencyKey, newPaymentId(), args, staleClaimMs);
      if (!claimed) {
        sameRequestOrRefuse(record, request);
        if (record.state !== "PENDING") return record;
        // The same key is at the processor in another call: wait for its answer, not a second hold.
        if (Date.now() >= waitUntil || ctx.signal.aborted) {
          throw unavailable("PAYMENT_IN_PROGRESS", `an authorization with idempotency key "${request.idempotencyKey}" is in progress`, 500);
        }
        await sleep(POLL_MS, undefined, { signal: ctx.signal }).catch(() => {});
        continue;
      }
      const paymentId = record.payment.paymentId;
      let outcome: AuthorizationOutcome;
      try {
        outcome = await processor.authorize({ idempotencyKey: request.idempotencyKey, cardToken: request.cardToken, amount: args.amount });
      } catch (error) {
        await store.abandon(paymentId);
        throw error;
      }
      const settled = await store.settle(
        paymentId,
        outcome.approved ? { state: "AUTHORIZED", processorRef: outcome.reference } : { state: "DECLINED", declineReason: outcome.reason },
      );
      if (settled) return settled;
      const now = await store.byKey(request.idempotencyKey);
      if (!now) throw new Error(`payment for key ${request.idempotencyKey} vanished`);
      // Voided by key while at the processor: the hold must not outlive the void. (Otherwise a
      // caller that took over this stale claim settled it first, with the processor's same answer.)
      if (now.state === "VOIDED" && outcome.approved) await processor.void(outcome.reference);
      return now;
    }
  }

  return {
    async authorizePayment(request, ctx) {
      return { payment: (await authorize(request, ctx)).payment };
    },

    async capturePayment({ paymentId }) {
      return change({ paymentId }, async (record) => {
        if (record.state === "CAPTURED") return undefined;
        if (record.state !== "AUTHORIZED") refuse(record, "PAYMENT_NOT_CAPTURABLE", "capture");
        await processor.capture(record.processorRef, record.payment.amount!);
        return { state: "CAPTURED" };
      });
    },

    async voidPayment({ paymentId, idempotencyKey }) {
      const target: PaymentTarget = paymentId ? { paymentId } : { idempotencyKey, tombstoneIfMissing: true };
      return change(target, async (record) => {
        if (record.state === "VOIDED" || record.state === "DECLINED") return undefined;
        // A claim still at the processor: its owner sees VOIDED when the answer comes and drops the hold.
        if (record.state === "PENDING") return { state: "VOIDED" };
        if (record.state !== "AUTHORIZED") refuse(record, "PAYMENT_NOT_VOIDABLE", "void");
        await processor.void(record.processorRef);
        return { state: "VOIDED" };
      });
    },

    async refundPayment({ paymentId, reason }) {
      return change({ paymentId }, async (record) => {
        if (record.state === "REFUNDED") return undefined;
        if (record.state !== "CAPTURED") refuse(record, "PAYMENT_NOT_REFUNDABLE", "refund");
        await processor.refund(record.processorRef, record.payment.amount!);
        return { state: "REFUNDED", refundReason: reason || "refunded" };
      });
    },

    async getPayment({ paymentId }) {
      const record = await store.byId(paymentId);
      if (!record) throw notFound("PAYMENT_NOT_FOUND", { type: "shop.payment.v1.Payment", name: paymentId }, { payment_id: paymentId });
      return { payment: record.payment };
    },
  };
}

function refuse(record: PaymentRecord, reason: string, action: string): never {
  throw failedPrecondition(reason, `cannot ${action} a ${record.state} payment`, {
    payment_id: record.payment.paymentId,
    state: record.state,
  });
}

/**
 * A repeated key is fine with the same arguments, and with a tombstone (the key was voided
 * before it authorized: the answer is that VOIDED payment, nothing is held). Anything else
 * reuses the key for a different payment: ALREADY_EXISTS.
 */
function sameRequestOrRefuse(record: PaymentRecord, request: AuthorizePaymentRequest): void {
  const same =
    record.payment.orderId === request.orderId &&
    record.cardToken === request.cardToken &&
    record.payment.amount?.currencyCode === request.amount?.currencyCode &&
    record.payment.amount?.amountMinor === request.amount?.amountMinor;
  if (record.tombstone || same) return;
  throw alreadyExists("IDEMPOTENCY_KEY_REUSED", `idempotency key "${request.idempotencyKey}" was already used for a different payment`, {
    payment_id: record.payment.paymentId,
  });
}
