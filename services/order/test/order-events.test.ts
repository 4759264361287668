import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { OrderConfirmedSchema, OrderPlacedSchema, OrderRejectedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OUTBOX_CLAIMS_SQL, OUTBOX_TABLE_SQL } from "@shop/platform/messaging";
import { describe, expect, it } from "vitest";
import { OrderEvents } from "../src/order-events.js";

const confirmed = create(OrderSchema, {
  orderId: "ord_1",
  userId: "alice",
  email: "alice@example.com",
  status: OrderStatus.CONFIRMED,
  total: { currencyCode: "EUR", amountMinor: 2599n },
  lines: [
    { sku: "SKU-A", quantity: 2 },
    { sku: "SKU-B", quantity: 1 },
  ],
});
const events = new OrderEvents("test.shop.events");

describe("order events", () => {
  it("announces a CONFIRMED order as OrderConfirmed, routed by its full type name to the events exchange, carrying the order", () => {
    const row = events.outboxMessage(confirmed);
    expect(row?.routingKey).toBe("shop.order.v1.OrderConfirmed");
    expect(row?.schema).toBe(OrderConfirmedSchema);
    expect(row?.destination).toBe("test.shop.events");
    const decoded = fromBinary(OrderConfirmedSchema, toBinary(OrderConfirmedSchema, row!.message as never));
    expect(decoded.order?.email).toBe("alice@example.com");
    expect(decoded.order?.total?.amountMinor).toBe(2599n);
  });

  it("derives the event id from order and status, so a status change is one event however often it is written", () => {
    expect(events.outboxMessage(confirmed)?.messageId).toBe("ord_1.confirmed");
    expect(events.outboxMessage({ ...confirmed, status: OrderStatus.CANCELLED })?.messageId).toBe("ord_1.cancelled");
  });

  it("announces a PENDING order as OrderPlaced and a REJECTED one with its reason", () => {
    expect(events.outboxMessage({ ...confirmed, status: OrderStatus.PENDING })?.schema).toBe(OrderPlacedSchema);
    const rejected = events.outboxMessage({ ...confirmed, status: OrderStatus.REJECTED, statusReason: "out of stock" });
    expect(rejected?.schema).toBe(OrderRejectedSchema);
    expect((rejected!.message as unknown as { reason: string }).reason).toBe("out of stock");
  });

  it("announces nothing for an order without a status", () => {
    expect(events.outboxMessage({ ...confirmed, status: OrderStatus.UNSPECIFIED })).toBeUndefined();
  });

  it("keeps its outbox migrations identical to the platform's outbox table and claim column", () => {
    const table = readFileSync(new URL("../migrations/002_outbox.sql", import.meta.url), "utf8");
    const claims = readFileSync(new URL("../migrations/004_outbox_claims.sql", import.meta.url), "utf8");
    expect(claims.slice(claims.indexOf("alter table"))).toBe(OUTBOX_CLAIMS_SQL);
    expect(table.slice(table.indexOf("create table")) + OUTBOX_CLAIMS_SQL).toBe(
      OUTBOX_TABLE_SQL.slice(OUTBOX_TABLE_SQL.indexOf("create table")),
    );
  });
});
