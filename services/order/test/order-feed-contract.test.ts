import type { DescMessage } from "@bufbuild/protobuf";
import { file_shop_order_v1_order_events } from "@shop/contracts/shop/order/v1/order_events_pb";
import { type ConsumerContract, contractViolations } from "@shop/platform/testing/message-contract";
import { describe, expect, it } from "vitest";
import { ORDER_EVENT_SCHEMAS } from "../src/order-events.js";

/**
 * What each order replica's watch feed (src/order-feed.ts) reads of the order events: the order
 * each carries — streamed to WatchOrder as it is, so the whole Order message, whose identity
 * (id, owner) and ordering (update_time) the stream relies on. Checked against the descriptors
 * generated from the producer's protos.
 */
const ORDER = {
  order: "3 shop.order.v1.Order",
  "order.order_id": "1 string",
  "order.user_id": "2 string",
  "order.status": "5 shop.order.v1.OrderStatus",
  "order.update_time": "11 google.protobuf.Timestamp",
};
const WATCH_FEED_RELIES_ON: ConsumerContract = {
  "shop.order.v1.OrderPlaced": ORDER,
  "shop.order.v1.OrderConfirmed": ORDER,
  "shop.order.v1.OrderRejected": ORDER,
  "shop.order.v1.OrderCancelled": ORDER,
};

function lookup(typeName: string): DescMessage | undefined {
  return file_shop_order_v1_order_events.messages.find((message) => message.typeName === typeName);
}

describe("the watch feed's contract with the order events", () => {
  it("finds the order, with the fields the stream relies on, in every order event", () => {
    expect(contractViolations(WATCH_FEED_RELIES_ON, lookup)).toEqual([]);
  });

  it("binds its queue to exactly the events its contract names", () => {
    expect(ORDER_EVENT_SCHEMAS.map((schema) => schema.typeName).sort()).toEqual(Object.keys(WATCH_FEED_RELIES_ON).sort());
  });
});
