import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import type { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { type Money, MoneySchema } from "@shop/contracts/shop/type/v1/money_pb";
import { errorInfo, type GrpcClient, type Logger, traceFields } from "@shop/platform";
import { enqueueOutbox } from "@shop/platform/messaging";
import type { SagaSettings } from "./order-config.js";
import type { OrderEvents } from "./order-events.js";
import type { OrderChange, OrderRecord, OrderStore, PricedLine } from "./store.js";

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
 * the recovery loop, by another replica — and picks up where the last run stopped. A transient
 * failure leaves the order where it is, with a retry time, for the recovery loop. A final status
 * (CONFIRMED, REJECTED, CANCELLED) writes its event (OrderConfirmed, …) to the outbox in the
 * same transaction as the status (see `advance`), for the relay to publish to `shop.events`.
 */
export class OrderSaga {
  constructor(private readonly deps: SagaDeps) {}

  /**
   * Runs the order's saga as far as it can go now and returns the order as it then is.
   * Returns the order untouched when another driver holds it.
   */
  async drive(orderId: string): Promise<OrderRecord | undefined> {
    const { store, options, logger } = this.deps;
    let record = await store.claim(orderId, options.leaseMs);
    if (!record) return store.get(orderId);
    try {
      while (record.sagaStep !== "DONE") record = await this.step(record);
      return record;
    } catch (error) {
      const delay = Math.min(options.maxRetryDelayMs, 500 * 2 ** record.attempts) * (0.5 + Math.random() / 2);
      const reason = describe(error);
      await store.recordFailure(orderId, reason, new Date(Date.now() + delay));
      logger.warn(
        { orderId, step: record.sagaStep, attempts: record.attempts + 1, err: reason, retryInMs: Math.round(delay), ...traceFields() },
        "saga step failed; will retry",
      );
      return store.get(orderId);
    }
  }

  private async step(record: OrderRecord): Promise<OrderRecord> {
    const orderId = record.order.orderId;
    const overdue = Date.now() - record.createdAt.getTime() > this.deps.options.pendingTimeoutMs;
    switch (record.sagaStep) {
      case "RESERVING":
        if (overdue) return this.advance(orderId, { step: "COMPENSATING", reason: timeoutReason(record) });
        return this.reserve(record);
      case "AUTHORIZING":
        if (overdue) return this.advance(orderId, { step: "COMPENSATING", reason: timeoutReason(record) });
        return this.authorize(record);
      case "COMMITTING":
        if (overdue) return this.advance(orderId, { step: "COMPENSATING", reason: timeoutReason(record) });
        return this.commit(record);
      case "CAPTURING":
        return this.capture(record);
      case "COMPENSATING":
        return this.compensate(record);
      case "CANCELLING":
        return this.cancel(record);
      case "DONE":
        return record;
    }
  }

  private async reserve(record: OrderRecord): Promise<OrderRecord> {
    const orderId = record.order.orderId;
    try {
      const { reservation } = await this.deps.inventory.reserveStock(
        { reservationId: orderId, lines: record.order.lines.map(({ sku, quantity }) => ({ sku, quantity })) },
        this.callOptions(),
      );
      const lines: PricedLine[] = (reservation?.lines ?? []).map((line) => ({
        sku: line.sku,
        quantity: line.quantity,
        unitPrice: line.unitPrice ?? create(MoneySchema),
        productName: line.productName,
      }));
      return this.advance(orderId, { step: "AUTHORIZING", lines, total: totalOf(lines) });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      // All-or-nothing reservation: a refusal holds nothing, so there is nothing to give back.
      const info = errorInfo(error);
      const reason =
        info?.reason === "OUT_OF_STOCK" ? `out of stock: ${info.metadata.short_skus}` : `cannot reserve stock: ${refusalText(error)}`;
      return this.advance(orderId, { step: "DONE", status: OrderStatus.REJECTED, reason });
    }
  }

  private async authorize(record: OrderRecord): Promise<OrderRecord> {
    const { orderId, total } = record.order;
    try {
      const { payment } = await this.deps.payment.authorizePayment(
        { idempotencyKey: orderId, orderId, amount: total, cardToken: record.cardToken },
        this.callOptions(),
      );
      if (payment?.state === PaymentState.DECLINED) {
        return this.advance(orderId, { step: "COMPENSATING", reason: `payment declined: ${payment.declineReason}` });
      }
      if (payment?.state !== PaymentState.AUTHORIZED) {
        // e.g. VOIDED: a compensation of this order already voided the key.
        const state = payment ? PaymentState[payment.state] : "missing";
        return this.advance(orderId, { step: "COMPENSATING", reason: `payment not authorized (${state})` });
      }
      return this.advance(orderId, { step: "COMMITTING", paymentId: payment.paymentId });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      return this.advance(orderId, { step: "COMPENSATING", reason: `payment refused: ${refusalText(error)}` });
    }
  }

  private async commit(record: OrderRecord): Promise<OrderRecord> {
    const orderId = record.order.orderId;
    try {
      await this.deps.inventory.commitReservation({ reservationId: orderId }, this.callOptions());
      return this.advance(orderId, { step: "CAPTURING" });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      return this.advance(orderId, { step: "COMPENSATING", reason: `stock no longer held: ${refusalText(error)}` });
    }
  }

  private async capture(record: OrderRecord): Promise<OrderRecord> {
    const orderId = record.order.orderId;
    try {
      await this.deps.payment.capturePayment({ paymentId: record.order.paymentId }, this.callOptions());
      return this.advance(orderId, { step: "DONE", status: OrderStatus.CONFIRMED, reason: "" });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      // The authorization is gone (voided or lapsed): the committed stock goes back on sale.
      return this.advance(orderId, { step: "COMPENSATING", reason: `payment could not be captured: ${refusalText(error)}` });
    }
  }

  private async compensate(record: OrderRecord): Promise<OrderRecord> {
    const { orderId, paymentId } = record.order;
    await this.deps.inventory.releaseReservation({ reservationId: orderId }, this.callOptions());
    // Without a payment id the authorization's outcome was never learned: void by key, which
    // also stops a late authorization with that key from going through.
    await this.deps.payment.voidPayment(paymentId ? { paymentId } : { idempotencyKey: orderId }, this.callOptions());
    return this.advance(orderId, { step: "DONE", status: OrderStatus.REJECTED });
  }

  private async cancel(record: OrderRecord): Promise<OrderRecord> {
    const { orderId, paymentId, statusReason } = record.order;
    await this.deps.payment.refundPayment({ paymentId, reason: statusReason || "cancelled by customer" }, this.callOptions());
    await this.deps.inventory.releaseReservation({ reservationId: orderId }, this.callOptions());
    return this.advance(orderId, { step: "DONE", status: OrderStatus.CANCELLED });
  }

  /**
   * Persists one step. When the status changes, its event goes into the outbox in the same
   * transaction: it is published if and only if the status commits.
   */
  private async advance(orderId: string, change: OrderChange): Promise<OrderRecord> {
    const { store } = this.deps;
    const record = await store.transaction(async (tx) => {
      const advanced = await store.advance(tx, orderId, change);
      const event = change.status === undefined ? undefined : this.deps.events.outboxMessage(advanced.order);
      if (event) await enqueueOutbox(tx, event);
      return advanced;
    });
    this.deps.events.publish(record.order);
    if (change.status !== undefined) {
      this.deps.logger.info(
        { orderId, status: OrderStatus[change.status], reason: record.order.statusReason, ...traceFields() },
        "order status changed",
      );
    }
    return record;
  }

  private callOptions() {
    return { timeoutMs: this.deps.options.stepTimeoutMs };
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

function timeoutReason(record: OrderRecord): string {
  return `not completed in time (${record.lastError || "dependency unavailable"})`;
}

function totalOf(lines: PricedLine[]): Money {
  const currencies = new Set(lines.map((line) => line.unitPrice.currencyCode));
  if (currencies.size > 1) throw new Error(`an order cannot mix currencies: ${[...currencies].join(", ")}`);
  return create(MoneySchema, {
    currencyCode: lines[0]?.unitPrice.currencyCode ?? "EUR",
    amountMinor: lines.reduce((sum, line) => sum + line.unitPrice.amountMinor * BigInt(line.quantity), 0n),
  });
}
