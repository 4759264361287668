import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { OrderStatus, type Order } from "@shop/contracts/shop/order/v1/order_pb";
import type { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { alreadyExists, failedPrecondition, invalidArgument, notFound, unauthenticated, unavailable } from "@shop/platform";
import { randomUUID } from "node:crypto";
import type { OrderEvents } from "./order-events.js";
import { requestHash, validateCreateOrder } from "./order-validation.js";
import type { OrderSaga } from "./saga.js";
import type { OrderCursor, OrderRecord, OrderStore } from "./store.js";

/** What the order handlers need. */
export interface OrderServiceDeps {
  store: OrderStore;
  saga: OrderSaga;
  events: OrderEvents;
  /** How often a WatchOrder stream re-reads the order, to see changes made by other replicas. */
  watchPollMs: number;
  /** How long a new order is left to the CreateOrder call that placed it before recovery may drive it. */
  recoveryGraceMs: number;
}

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;

/** The OrderService handlers: every call acts for the caller named in `x-user-id`. */
export function createOrderService(deps: OrderServiceDeps): ServiceImpl<typeof OrderService> {
  const { store, saga, events } = deps;

  async function callersOrder(orderId: string, ctx: HandlerContext): Promise<OrderRecord> {
    const userId = callerOf(ctx);
    if (!orderId) throw invalidArgument([{ field: "order_id", description: "must be set" }]);
    const record = await store.get(orderId);
    // Someone else's order is reported exactly like a missing one, so ids cannot be probed.
    if (!record || record.order.userId !== userId) throw notFound("ORDER_NOT_FOUND", { type: "shop.order.v1.Order", name: orderId });
    return record;
  }

  return {
    async createOrder(request, ctx) {
      const userId = callerOf(ctx);
      const violations = validateCreateOrder(request);
      if (violations.length > 0) throw invalidArgument(violations);
      const hash = requestHash(request);
      const { record, created } = await store.insertPending({
        orderId: `ord_${randomUUID()}`,
        userId,
        requestId: request.requestId,
        requestHash: hash,
        email: request.email,
        cardToken: request.cardToken,
        items: request.items.map(({ sku, quantity }) => ({ sku, quantity })),
        recoveryGraceMs: deps.recoveryGraceMs,
      });
      if (!created && record.requestHash !== hash) {
        throw alreadyExists("REQUEST_ID_REUSED", `request_id "${request.requestId}" was already used for a different order`, {
          order_id: record.order.orderId,
        });
      }
      if (created) events.publish(record.order);
      const driven = record.sagaStep === "DONE" ? record : ((await saga.drive(record.order.orderId)) ?? record);
      return { order: driven.order };
    },

    async getOrder({ orderId }, ctx) {
      return { order: (await callersOrder(orderId, ctx)).order };
    },

    async listOrders({ pageSize, pageToken }, ctx) {
      const userId = callerOf(ctx);
      if (pageSize < 0) throw invalidArgument([{ field: "page_size", description: "must not be negative" }]);
      const limit = Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const records = await store.list(userId, limit + 1, pageToken ? decodeCursor(pageToken) : undefined);
      const page = records.slice(0, limit);
      const last = page[page.length - 1];
      const nextPageToken = records.length > limit && last ? encodeCursor(last) : "";
      return { orders: page.map((record) => record.order), nextPageToken };
    },

    async cancelOrder({ orderId, reason }, ctx) {
      const record = await callersOrder(orderId, ctx);
      const { status } = record.order;
      if (status === OrderStatus.CANCELLED) return { order: record.order };
      if (status !== OrderStatus.CONFIRMED) {
        throw failedPrecondition("ORDER_NOT_CANCELLABLE", `only a CONFIRMED order can be cancelled; this one is ${OrderStatus[status]}`, {
          order_id: orderId,
          status: OrderStatus[status],
        });
      }
      await store.beginCancellation(orderId, reason || "cancelled by customer");
      const driven = (await saga.drive(orderId)) ?? record;
      if (driven.order.status !== OrderStatus.CANCELLED) {
        throw unavailable("CANCELLATION_PENDING", "the cancellation is recorded and will complete when payment and inventory answer", 2000, {
          order_id: orderId,
        });
      }
      return { order: driven.order };
    },

    async *watchOrder({ orderId }, ctx) {
      const changes = new ChangeQueue<Order>();
      const unsubscribe = events.subscribe(orderId, (order) => changes.push(order));
      const poll = setInterval(() => {
        store.get(orderId).then((record) => record && changes.push(record.order), () => {});
      }, deps.watchPollMs);
      const stop = () => changes.close();
      ctx.signal.addEventListener("abort", stop);
      try {
        let current = (await callersOrder(orderId, ctx)).order;
        yield { order: current };
        while (!isSettled(current)) {
          const next = await changes.next();
          if (!next) return;
          if (sameVersion(next, current)) continue;
          current = next;
          yield { order: current };
        }
      } finally {
        ctx.signal.removeEventListener("abort", stop);
        clearInterval(poll);
        unsubscribe();
      }
    },
  };
}

/** The caller's identity, set by the gateway from a verified token. */
function callerOf(ctx: HandlerContext): string {
  const userId = ctx.requestHeader.get("x-user-id");
  if (!userId) throw unauthenticated("MISSING_IDENTITY", "the x-user-id header is missing: call through the gateway with a bearer token");
  return userId;
}

function isSettled(order: Order): boolean {
  return order.status !== OrderStatus.PENDING;
}

function sameVersion(a: Order, b: Order): boolean {
  return (
    a.status === b.status &&
    a.statusReason === b.statusReason &&
    a.paymentId === b.paymentId &&
    a.total?.amountMinor === b.total?.amountMinor &&
    a.updateTime?.seconds === b.updateTime?.seconds &&
    a.updateTime?.nanos === b.updateTime?.nanos
  );
}

function encodeCursor(record: OrderRecord): string {
  const cursor: OrderCursor = { createdAt: record.createdAt.toISOString(), orderId: record.order.orderId };
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function decodeCursor(token: string): OrderCursor {
  try {
    const cursor = JSON.parse(Buffer.from(token, "base64url").toString()) as Partial<OrderCursor>;
    if (typeof cursor.createdAt === "string" && typeof cursor.orderId === "string" && !Number.isNaN(Date.parse(cursor.createdAt))) {
      return { createdAt: cursor.createdAt, orderId: cursor.orderId };
    }
  } catch {
    // fall through to the error below
  }
  throw invalidArgument([{ field: "page_token", description: "is not a token this service issued" }]);
}

/** A queue the stream awaits: changes pushed by events or polls, closed when the caller leaves. */
class ChangeQueue<T> {
  private readonly items: T[] = [];
  private waiting: ((item: T | undefined) => void) | undefined;
  private closed = false;

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(item);
    } else this.items.push(item);
  }

  close(): void {
    this.closed = true;
    this.waiting?.(undefined);
    this.waiting = undefined;
  }

  next(): Promise<T | undefined> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiting = resolve));
  }
}
