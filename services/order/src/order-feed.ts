import type { MessageShape } from "@bufbuild/protobuf";
import type { Logger } from "@shop/platform";
import { broadcastTopology, type Consumer, type DeliveryInfo, type MessagingConnection, startConsumer } from "@shop/platform/messaging";
import { ORDER_EVENT_SCHEMAS, type OrderEvents } from "./order-events.js";

type OrderEventMessage = MessageShape<(typeof ORDER_EVENT_SCHEMAS)[number]>;

/**
 * The order an event carries, handed to this replica's WatchOrder streams. What the feed relies
 * on from the producer — every order event has `order` (field 3, shop.order.v1.Order) — is
 * pinned by test/order-feed-contract.test.ts.
 */
export function feedHandler(events: OrderEvents): (event: OrderEventMessage, delivery: DeliveryInfo) => Promise<void> {
  return async (event, delivery) => {
    const { order } = event;
    if (!order) {
      delivery.log?.warn({ event: "order.feed_without_order" }, "order event without an order; ignored");
      return;
    }
    events.publish(order);
  };
}

/**
 * Binds this replica's own exclusive, broker-named queue to the events exchange for every order
 * event, so its WatchOrder streams hear of changes any replica made — without reading the
 * database per stream. The queue lives and dies with this process's connection: whatever was
 * published while the connection was down is lost to it, so on every re-subscription the
 * streams re-read their order once.
 */
export function startOrderFeed(deps: {
  connection: MessagingConnection;
  events: OrderEvents;
  /** AMQP_PREFIX. */
  prefix: string;
  /** The events exchange without the prefix. */
  exchange: string;
  logger: Logger;
}): Consumer {
  return startConsumer({
    connection: deps.connection,
    topology: broadcastTopology({
      prefix: deps.prefix,
      exchange: deps.exchange,
      routingKeys: ORDER_EVENT_SCHEMAS.map((schema) => schema.typeName),
    }),
    messages: ORDER_EVENT_SCHEMAS,
    handle: feedHandler(deps.events),
    logger: deps.logger,
    prefetch: 64,
    onSubscribed: (subscription) => {
      if (subscription > 1) deps.events.resync();
    },
  });
}
