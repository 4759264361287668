import { create, type DescMessage } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderPlacedSchema,
  OrderRejectedSchema,
} from "@shop/contracts/shop/order/v1/order_events_pb";
import { type Order, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import type { OutboxMessage } from "@shop/platform/messaging";

type Listener = (order: Order) => void;

/** A watcher: told of each change, and asked to re-read when changes may have been missed. */
interface Watcher {
  changed: Listener;
  resync?: () => void;
}

/** The events the order service announces, in the order of an order's life. */
export const ORDER_EVENT_SCHEMAS = [OrderPlacedSchema, OrderConfirmedSchema, OrderRejectedSchema, OrderCancelledSchema] as const;

/** The default topic exchange of events (EVENTS_EXCHANGE; AMQP_PREFIX goes before it). */
export const EVENTS_EXCHANGE = "shop.events";

/**
 * Where order changes go. `outboxMessage` makes the event row a status change writes to the
 * outbox (published to `exchange` by the relay); `publish` tells this replica's WatchOrder
 * streams — called for its own changes and, through its per-replica queue on the events
 * exchange, for every replica's (see order-feed.ts).
 */
export class OrderEvents {
  private readonly byOrder = new Map<string, Set<Watcher>>();

  /** `exchange`: the events exchange with its prefix, as the relay publishes to it. */
  constructor(readonly exchange = EVENTS_EXCHANGE) {}

  /** Tells every watcher of this order on this replica that it changed. */
  publish(order: Order): void {
    for (const watcher of this.byOrder.get(order.orderId) ?? []) watcher.changed(order);
  }

  /**
   * Asks every watcher on this replica to re-read its order: changes may have gone unheard (this
   * replica's feed lost its queue on the events exchange, and with it what was published meanwhile).
   */
  resync(): void {
    for (const set of this.byOrder.values()) for (const watcher of set) watcher.resync?.();
  }

  /**
   * Calls `listener` on each change of the order, and `resync` when changes may have been missed,
   * until the returned function is called.
   */
  subscribe(orderId: string, listener: Listener, resync?: () => void): () => void {
    const set = this.byOrder.get(orderId) ?? new Set();
    this.byOrder.set(orderId, set);
    const watcher = { changed: listener, resync };
    set.add(watcher);
    return () => {
      set.delete(watcher);
      if (set.size === 0) this.byOrder.delete(orderId);
    };
  }

  /** The outbox row announcing `order` as it now is: OrderPlaced for PENDING, else its final status's event. */
  outboxMessage(order: Order): OutboxMessage<DescMessage> | undefined {
    const event = orderEvent(order);
    if (!event) return undefined;
    return {
      schema: event.schema,
      message: event.message,
      messageId: event.message.eventId,
      routingKey: event.schema.typeName,
      destination: this.exchange,
    };
  }
}

/** The event announcing `order` in its current status, with an id stable across retries (one event per status per order). */
export function orderEvent(order: Order) {
  const occurTime = order.updateTime ?? timestampNow();
  switch (order.status) {
    case OrderStatus.PENDING:
      return { schema: OrderPlacedSchema, message: create(OrderPlacedSchema, { eventId: `${order.orderId}.placed`, occurTime, order }) };
    case OrderStatus.CONFIRMED:
      return {
        schema: OrderConfirmedSchema,
        message: create(OrderConfirmedSchema, { eventId: `${order.orderId}.confirmed`, occurTime, order }),
      };
    case OrderStatus.REJECTED:
      return {
        schema: OrderRejectedSchema,
        message: create(OrderRejectedSchema, { eventId: `${order.orderId}.rejected`, occurTime, order, reason: order.statusReason }),
      };
    case OrderStatus.CANCELLED:
      return {
        schema: OrderCancelledSchema,
        message: create(OrderCancelledSchema, { eventId: `${order.orderId}.cancelled`, occurTime, order, reason: order.statusReason }),
      };
    default:
      return undefined;
  }
}
