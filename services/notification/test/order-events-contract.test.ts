import type { DescMessage } from "@bufbuild/protobuf";
import { file_shop_order_v1_order_events } from "@shop/contracts/shop/order/v1/order_events_pb";
import { type ConsumerContract, contractViolations } from "@shop/platform/testing/message-contract";
import { describe, expect, it } from "vitest";
import { NOTIFIED_ORDER_EVENTS } from "../src/order-event-handler.js";

/**
 * What the notification service reads of the order service's events (src/order-event-handler.ts)
 * — and nothing more. Checked against the descriptors generated from the producer's protos: when
 * the order service renames, renumbers, retypes or drops any of these, this fails.
 */
const ORDER_FIELDS = {
  order: "3 shop.order.v1.Order",
  "order.order_id": "1 string",
  "order.user_id": "2 string",
  "order.email": "7 string",
  "order.status": "5 shop.order.v1.OrderStatus",
  "order.total": "4 shop.type.v1.Money",
  "order.total.currency_code": "1 string",
  "order.total.amount_minor": "2 int64",
  "order.lines": "3 repeated shop.order.v1.OrderLine",
  "order.lines.quantity": "2 int32",
  occur_time: "2 google.protobuf.Timestamp",
};
const NOTIFICATION_RELIES_ON: ConsumerContract = {
  "shop.order.v1.OrderConfirmed": ORDER_FIELDS,
  "shop.order.v1.OrderRejected": { ...ORDER_FIELDS, reason: "4 string" },
  "shop.order.v1.OrderCancelled": { ...ORDER_FIELDS, reason: "4 string" },
};

function lookup(typeName: string): DescMessage | undefined {
  return [file_shop_order_v1_order_events, ...file_shop_order_v1_order_events.dependencies]
    .flatMap((file) => file.messages)
    .find((message) => message.typeName === typeName);
}

describe("notification's contract with the order events it consumes", () => {
  it("finds every event and field it relies on, with the same number and type, in the producer's protos", () => {
    expect(contractViolations(NOTIFICATION_RELIES_ON, lookup)).toEqual([]);
  });

  it("subscribes to exactly the events its contract names", () => {
    expect(NOTIFIED_ORDER_EVENTS.map((schema) => schema.typeName).sort()).toEqual(Object.keys(NOTIFICATION_RELIES_ON).sort());
  });

  it("would fail if the producer dropped, renumbered or retyped a field it reads", () => {
    const renumbered = { "shop.order.v1.OrderRejected": { reason: "5 string" } };
    const retyped = { "shop.order.v1.OrderConfirmed": { "order.total.amount_minor": "2 int32" } };
    const dropped = { "shop.order.v1.OrderConfirmed": { "order.gift_note": "12 string" }, "shop.order.v1.OrderShipped": {} };
    expect(contractViolations(renumbered, lookup)).toEqual([
      'shop.order.v1.OrderRejected.reason: expected "5 string", the producer has "4 string"',
    ]);
    expect(contractViolations(retyped, lookup)).toEqual([
      'shop.order.v1.OrderConfirmed.order.total.amount_minor: expected "2 int32", the producer has "2 int64"',
    ]);
    expect(contractViolations(dropped, lookup)).toEqual([
      'shop.order.v1.OrderConfirmed.order.gift_note: no field "gift_note" in shop.order.v1.Order',
      "shop.order.v1.OrderShipped: no such message",
    ]);
  });
});
