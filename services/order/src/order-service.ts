import { randomUUID } from "node:crypto";
import { equals } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { type Order, OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import {
  AsyncQueue,
  alreadyExists,
  endUser,
  failedPrecondition,
  notFound,
  pagination,
  resourceExhausted,
  unavailable,
} from "@shop/platform";
import type { OrderEvents } from "./order-events.js";
import { requestHash } from "./order-validation.js";
import type { OrderSaga } from "./saga.js";
import type { OrderPageKey, OrderRecord, OrderStore } from "./store.js";

/** What the order handlers need. */
export interface OrderServiceDeps {
  store: OrderStore;
  saga: OrderSaga;
  events: OrderEvents;
  /** WatchOrder streams one caller may hold open at once on this replica (ORDER_WATCH_STREAMS_PER_USER). */
  watchStreamsPerUser: number;
  /** How long a new order is left to the CreateOrder call that placed it before recovery may drive it. */
  recoveryGraceMs: number;
}

/** ListOrders pages by (creation time, order id), newest first. */
const listPages = pagination<OrderPageKey>({
  method: OrderService.method.listOrders,
  key: {
    encode: (key) => [key.createdAt, key.orderId],
    decode: ([createdAt, orderId]) =>
      createdAt !== undefined && orderId !== undefined && isPostgresTimestamp(createdAt) && ORDER_ID.test(orderId)
        ? { createdAt, orderId }
        : undefined,
  },
});
const ORDER_ID = /^ord_[0-9a-f-]{36}$/;

/** The OrderService handlers: every call acts for the caller named in `x-user-id`. */
export function createOrderService(deps: OrderServiceDeps): ServiceImpl<typeof OrderService> {
  const { store, saga, events } = deps;
  const watching = new Map<string, number>();

  async function callersOrder(orderId: string, ctx: HandlerContext): Promise<OrderRecord> {
    const userId = endUser(ctx);
    const record = await store.get(orderId);
    // Someone else's order is reported exactly like a missing one, so ids cannot be probed.
    if (!record || record.order.userId !== userId) throw notFound("ORDER_NOT_FOUND", { type: "shop.order.v1.Order", name: orderId });
    return record;
  }

  return {
    async createOrder(request, ctx) {
      const userId = endUser(ctx);
      const hash = requestHash(request);
      const { record, created } = await store.insertPending(
        {
          orderId: `ord_${randomUUID()}`,
          userId,
          requestId: request.requestId,
          requestHash: hash,
          email: request.email,
          cardToken: request.cardToken,
          items: request.items.map(({ sku, quantity }) => ({ sku, quantity })),
          recoveryGraceMs: deps.recoveryGraceMs,
          // this request drives the order it places: claimed in the inserting statement
          claimForRequest: true,
        },
        (placed) => events.outboxMessage(placed), // OrderPlaced, written by the statement that places the order
      );
      if (!created && record.requestHash !== hash) {
        throw alreadyExists("REQUEST_ID_REUSED", `request_id "${request.requestId}" was already used for a different order`, {
          order_id: record.order.orderId,
        });
      }
      if (created) events.publish(record.order);
      const driven =
        record.sagaStep === "DONE" ? record : ((await saga.drive(record.order.orderId, created ? record : undefined)) ?? record);
      return { order: driven.order };
    },

    async getOrder({ orderId }, ctx) {
      return { order: (await callersOrder(orderId, ctx)).order };
    },

    async listOrders(request, ctx) {
      const userId = endUser(ctx);
      const page = listPages.read(request, [userId]);
      const listed = await store.list(userId, page.fetch, page.after);
      const { items, nextPageToken } = page.finish(listed, (row) => row.key);
      return { orders: items.map((row) => row.record.order), nextPageToken };
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
      await store.beginCancellation(orderId, reason);
      const driven = (await saga.drive(orderId)) ?? record;
      if (driven.order.status !== OrderStatus.CANCELLED) {
        throw unavailable(
          "CANCELLATION_PENDING",
          "the cancellation is recorded and will complete when payment and inventory answer",
          2000,
          {
            order_id: orderId,
          },
        );
      }
      return { order: driven.order };
    },

    async *watchOrder({ orderId }, ctx) {
      const userId = endUser(ctx);
      const open = watching.get(userId) ?? 0;
      if (open >= deps.watchStreamsPerUser) {
        throw resourceExhausted(
          "TOO_MANY_WATCH_STREAMS",
          `at most ${deps.watchStreamsPerUser} WatchOrder streams per caller at once; close one first`,
          1_000,
          { limit: String(deps.watchStreamsPerUser), open: String(open) },
        );
      }
      watching.set(userId, open + 1);
      // Fed by change notifications: this replica's own changes and, through its queue on the
      // events exchange, every replica's. The database is read once, after subscribing, so no
      // change falls between the read and the subscription.
      const changes = new AsyncQueue<Order>(ctx.signal);
      // After the feed lost its queue (a broker outage), re-read: the changes made meanwhile were not kept for it.
      const reread = () =>
        void callersOrder(orderId, ctx).then(
          ({ order }) => changes.push(order),
          () => undefined, // the stream goes on with the changes it hears; the next resync reads again
        );
      const unsubscribe = events.subscribe(orderId, (order) => changes.push(order), reread);
      try {
        let current = (await callersOrder(orderId, ctx)).order;
        yield { order: current };
        if (isSettled(current)) return;
        for await (const next of changes) {
          // Notifications can arrive late and out of order (the broker's copy of an earlier change after this
          // replica's own later one): never step back.
          if (equals(OrderSchema, next, current) || updatedBefore(next, current)) continue;
          current = next;
          yield { order: current };
          if (isSettled(current)) return;
        }
      } finally {
        changes.close();
        unsubscribe();
        const left = (watching.get(userId) ?? 1) - 1;
        if (left > 0) watching.set(userId, left);
        else watching.delete(userId);
      }
    },
  };
}

function isSettled(order: Order): boolean {
  return order.status !== OrderStatus.PENDING;
}

/** True when `a` is an older state of the order than `b` (two states of one millisecond are not ordered). */
function updatedBefore(a: Order, b: Order): boolean {
  const [x, y] = [a.updateTime, b.updateTime];
  return x !== undefined && y !== undefined && (x.seconds < y.seconds || (x.seconds === y.seconds && x.nanos < y.nanos));
}

const POSTGRES_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

/**
 * A timestamp as PostgreSQL prints `timestamptz::text`, e.g. `2026-11-29 20:21:33.123456+00`, naming
 * a real date and time: a page token is caller input, and one PostgreSQL cannot cast (February 30th,
 * hour 99, offset +99) would fail the query instead of being refused.
 */
function isPostgresTimestamp(text: string): boolean {
  const match = POSTGRES_TIMESTAMP.exec(text);
  if (!match) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0, offsetSeconds = 0] = match
    .slice(1)
    .map((part) => Number(part ?? 0));
  const date = new Date(Date.UTC(year, month - 1, day));
  const realDate = year >= 1000 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return realDate && hour < 24 && minute < 60 && second < 60 && offsetHours <= 15 && offsetMinutes < 60 && offsetSeconds < 60;
}
