import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import type { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { type Money, MoneySchema } from "@shop/contracts/shop/type/v1/money_pb";
import { errorInfo, type GrpcClient, type Logger, traceFields } from "@shop/platform";
import type { SagaSettings } from "./order-config.js";
import type { OrderEvents } from "./order-events.js";
import { OrderReason } from "./order-reasons.js";
import { type HeldLease, holdLease } from "./saga-lease.js";
import { recordSagaOutcome } from "./saga-metrics.js";
import { LeaseLostError, type OrderChange, type OrderRecord, type OrderStore, type PricedLine } from "./store.js";

/** The inventory calls the saga makes: a platform client fits, and so does any client with these methods. */
export type SagaInventory = Pick<GrpcClient<typeof InventoryService>, "reserveStock" | "commitReservation" | "releaseReservation">;

/** The payment calls the saga makes. */
export type SagaPayment = Pick<GrpcClient<typeof PaymentService>, "authorizePayment" | "capturePayment" | "voidPayment" | "refundPayment">;

/** What the saga needs: its store, the two services it orchestrates, and where changes go. */
export interface SagaDeps {
  store: OrderStore;
  inventory: SagaInventory;
  payment: SagaPayment;
  events: OrderEvents;
  logger: Logger;
  options: SagaSettings;
}

/** Codes that say "this will not work however often you try" — the order is rejected. */
const BUSINESS_REFUSALS = new Set([Code.FailedPrecondition, Code.NotFound, Code.InvalidArgument, Code.OutOfRange, Code.AlreadyExists]);

/**
 * The order saga, orchestrated:
 *
 *   RESERVING ─► AUTHORIZING ─► COMMITTING ─► CAPTURING ─► CONFIRMED
 *       │ refused      │ declined      │ expired      │ refused
 *       ▼              ▼               ▼              ▼
 *   REJECTED      COMPENSATING (release stock, void payment) ─► REJECTED
 *
 * Each step is one idempotent remote call keyed by the order id, and the step reached is
 * persisted before the next call, so `drive` can be run again at any point — after a crash, by
 * the recovery loop, by another replica — and picks up where the last run stopped. A driver holds
 * the order by a lease it renews while it works, and every write it makes is fenced by that lease:
 * a driver whose lease was taken over (it stalled past the lease) stops without writing. A
 * transient failure leaves the order where it is, with a retry time, for the recovery loop. What
 * the customer is shown as the reason is one of `OrderReason`; the error behind it is logged. A
 * final status (CONFIRMED, REJECTED, CANCELLED) writes its event (OrderConfirmed, …) to the outbox
 * in the same statement as the status (see `advance`), for the relay to publish to `shop.events`.
 */
export class OrderSaga {
  constructor(private readonly deps: SagaDeps) {}

  /**
   * Runs the order's saga as far as it can go now and returns the order as it then is.
   * Returns the order untouched when another driver holds it. `claimed` is an order this caller
   * already holds the lease of (inserted claimed by `OrderStore.insertPending`): it is driven
   * with that lease instead of claiming again.
   */
  async drive(orderId: string, claimed?: OrderRecord): Promise<OrderRecord | undefined> {
    const { store, options, logger } = this.deps;
    let record = claimed ?? (await store.claim(orderId, options.leaseMs));
    if (!record) return store.get(orderId);
    const lease = holdLease(store, { orderId, token: record.leaseToken }, options.leaseMs, logger);
    try {
      while (record.sagaStep !== "DONE") record = await this.step(record, lease);
      await lease.stop();
      return record;
    } catch (error) {
      await lease.stop();
      const reason = describe(error);
      if (error instanceof LeaseLostError || lease.lost) return this.stopFenced(record, reason);
      const delay = Math.min(options.maxRetryDelayMs, 500 * 2 ** record.attempts) * (0.5 + Math.random() / 2);
      if (!(await store.recordFailure(lease, reason, new Date(Date.now() + delay)))) return this.stopFenced(record, reason);
      logger.warn(
        { orderId, step: record.sagaStep, attempts: record.attempts + 1, err: reason, retryInMs: Math.round(delay), ...traceFields() },
        "saga step failed; will retry",
      );
      return store.get(orderId);
    }
  }

  /** A driver whose lease was taken over stops here: it wrote nothing, and the new driver carries on. */
  private stopFenced(record: OrderRecord, detail: string): Promise<OrderRecord | undefined> {
    const orderId = record.order.orderId;
    this.deps.logger.warn(
      { orderId, step: record.sagaStep, leaseToken: record.leaseToken.toString(), err: detail },
      "saga lease taken over by another driver; this driver stops without writing",
    );
    return this.deps.store.get(orderId);
  }

  private async step(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const overdue = Date.now() - record.createdAt.getTime() > this.deps.options.pendingTimeoutMs;
    switch (record.sagaStep) {
      case "RESERVING":
        if (overdue) return this.timedOut(record, lease);
        return this.reserve(record, lease);
      case "AUTHORIZING":
        if (overdue) return this.timedOut(record, lease);
        return this.authorize(record, lease);
      case "COMMITTING":
        if (overdue) return this.timedOut(record, lease);
        return this.commit(record, lease);
      case "CAPTURING":
        return this.capture(record, lease);
      case "COMPENSATING":
        return this.compensate(record, lease);
      case "CANCELLING":
        return this.cancel(record, lease);
      case "DONE":
        return record;
    }
  }

  private timedOut(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const detail = record.lastError || "dependency unavailable";
    return this.reject(record, lease, "COMPENSATING", OrderReason.TIMED_OUT, detail);
  }

  private async reserve(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const orderId = record.order.orderId;
    try {
      const { reservation } = await this.deps.inventory.reserveStock(
        { reservationId: orderId, lines: record.order.lines.map(({ sku, quantity }) => ({ sku, quantity })) },
        this.callOptions(lease),
      );
      const lines: PricedLine[] = (reservation?.lines ?? []).map((line) => ({
        sku: line.sku,
        quantity: line.quantity,
        unitPrice: line.unitPrice ?? create(MoneySchema),
        productName: line.productName,
      }));
      return this.advance(record, lease, { step: "AUTHORIZING", lines, total: totalOf(lines) });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      // All-or-nothing reservation: a refusal holds nothing, so there is nothing to give back.
      const reason = errorInfo(error)?.reason === "OUT_OF_STOCK" ? OrderReason.OUT_OF_STOCK : OrderReason.PRODUCT_UNAVAILABLE;
      return this.reject(record, lease, "DONE", reason, refusalText(error));
    }
  }

  private async authorize(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const { orderId, total } = record.order;
    try {
      const { payment } = await this.deps.payment.authorizePayment(
        { idempotencyKey: orderId, orderId, amount: total, cardToken: record.cardToken },
        this.callOptions(lease),
      );
      if (payment?.state === PaymentState.DECLINED) {
        return this.reject(record, lease, "COMPENSATING", OrderReason.PAYMENT_DECLINED, payment.declineReason);
      }
      if (payment?.state !== PaymentState.AUTHORIZED) {
        // e.g. VOIDED: a compensation of this order already voided the key.
        const state = payment ? PaymentState[payment.state] : "missing";
        return this.reject(record, lease, "COMPENSATING", OrderReason.PAYMENT_FAILED, `payment not authorized (${state})`);
      }
      return this.advance(record, lease, { step: "COMMITTING", paymentId: payment.paymentId });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      return this.reject(record, lease, "COMPENSATING", OrderReason.PAYMENT_FAILED, refusalText(error));
    }
  }

  private async commit(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const orderId = record.order.orderId;
    try {
      await this.deps.inventory.commitReservation({ reservationId: orderId }, this.callOptions(lease));
      return this.advance(record, lease, { step: "CAPTURING" });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      // The reservation lapsed before the order got this far.
      return this.reject(record, lease, "COMPENSATING", OrderReason.TIMED_OUT, refusalText(error));
    }
  }

  private async capture(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    try {
      await this.deps.payment.capturePayment({ paymentId: record.order.paymentId }, this.callOptions(lease));
      return this.advance(record, lease, { step: "DONE", status: OrderStatus.CONFIRMED, reason: "" });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      // The authorization is gone (voided or lapsed): the committed stock goes back on sale.
      return this.reject(record, lease, "COMPENSATING", OrderReason.PAYMENT_FAILED, refusalText(error));
    }
  }

  private async compensate(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const { orderId, paymentId } = record.order;
    await this.deps.inventory.releaseReservation({ reservationId: orderId }, this.callOptions(lease));
    // Without a payment id the authorization's outcome was never learned: void by key, which
    // also stops a late authorization with that key from going through.
    await this.deps.payment.voidPayment(paymentId ? { paymentId } : { idempotencyKey: orderId }, this.callOptions(lease));
    return this.advance(record, lease, { step: "DONE", status: OrderStatus.REJECTED });
  }

  private async cancel(record: OrderRecord, lease: HeldLease): Promise<OrderRecord> {
    const { orderId, paymentId } = record.order;
    const reason = record.cancelNote || OrderReason.CANCELLED_BY_CUSTOMER;
    await this.deps.payment.refundPayment({ paymentId, reason }, this.callOptions(lease));
    await this.deps.inventory.releaseReservation({ reservationId: orderId }, this.callOptions(lease));
    return this.advance(record, lease, { step: "DONE", status: OrderStatus.CANCELLED, reason: OrderReason.CANCELLED_BY_CUSTOMER });
  }

  /** Records why the order is being rejected: the customer sees `reason`; `detail` (a dependency's words) goes to the log. */
  private reject(
    record: OrderRecord,
    lease: HeldLease,
    step: "COMPENSATING" | "DONE",
    reason: OrderReason,
    detail: string,
  ): Promise<OrderRecord> {
    this.deps.logger.warn({ orderId: lease.orderId, reason, detail }, "order is being rejected");
    return this.advance(record, lease, step === "DONE" ? { step, status: OrderStatus.REJECTED, reason } : { step, reason });
  }

  /**
   * Persists one step of the order `current`. When the status changes, its event (built by
   * `events.outboxMessage` from the order as the step leaves it) goes into the outbox in the same
   * statement as the status: it is published if and only if the status commits. Either way one
   * statement, committed on its own.
   */
  private async advance(current: OrderRecord, lease: HeldLease, change: OrderChange): Promise<OrderRecord> {
    const { store, events } = this.deps;
    const { orderId } = lease;
    const record =
      change.status === undefined
        ? await store.advanceAlone(current, change)
        : await store.advanceAnnouncing(current, change, (order) => events.outboxMessage(order));
    this.deps.events.publish(record.order);
    if (change.status !== undefined) {
      recordSagaOutcome(change.status);
      this.deps.logger.info(
        { orderId, status: OrderStatus[change.status], reason: record.order.statusReason, ...traceFields() },
        "order status changed",
      );
    }
    return record;
  }

  /** Each remote call has its deadline, and stops when the lease is found taken over. */
  private callOptions(lease: HeldLease) {
    return { timeoutMs: this.deps.options.stepTimeoutMs, signal: lease.signal };
  }
}

function isRefusal(error: unknown): error is ConnectError {
  return error instanceof ConnectError && BUSINESS_REFUSALS.has(error.code);
}

function refusalText(error: ConnectError): string {
  return error.rawMessage;
}

function describe(error: unknown): string {
  if (error instanceof ConnectError) return `${Code[error.code]}: ${error.rawMessage}`;
  return error instanceof Error ? error.message : String(error);
}

function totalOf(lines: PricedLine[]): Money {
  const currencies = new Set(lines.map((line) => line.unitPrice.currencyCode));
  if (currencies.size > 1) throw new Error(`an order cannot mix currencies: ${[...currencies].join(", ")}`);
  return create(MoneySchema, {
    currencyCode: lines[0]?.unitPrice.currencyCode ?? "EUR",
    amountMinor: lines.reduce((sum, line) => sum + line.unitPrice.amountMinor * BigInt(line.quantity), 0n),
  });
}
