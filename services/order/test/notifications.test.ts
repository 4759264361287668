import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OUTBOX_CLAIMS_SQL, OUTBOX_TABLE_SQL } from "@shop/platform/messaging";
import { describe, expect, it } from "vitest";
import { formatMoney, notificationFor } from "../src/notifications.js";

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

describe("order notifications", () => {
  it("sends order_confirmed by e-mail with the total and item count", () => {
    const command = notificationFor(confirmed);
    expect(command?.template).toBe("order_confirmed");
    expect(command?.channel).toBe(NotificationChannel.EMAIL);
    expect(command?.recipient).toBe("alice@example.com");
    expect(command?.parameters).toMatchObject({ order_id: "ord_1", total: "25.99 EUR", items: "3" });
  });

  it("derives the command id from order and template, so a status change has exactly one command", () => {
    expect(notificationFor(confirmed)?.commandId).toBe(notificationFor(confirmed)?.commandId);
    expect(notificationFor({ ...confirmed, status: OrderStatus.CANCELLED })?.commandId).not.toBe(notificationFor(confirmed)?.commandId);
  });

  it("sends nothing for a PENDING order", () => {
    expect(notificationFor({ ...confirmed, status: OrderStatus.PENDING })).toBeUndefined();
  });

  it("formats minor units with two decimals", () => {
    expect(formatMoney({ $typeName: "shop.type.v1.Money", currencyCode: "EUR", amountMinor: 5n })).toBe("0.05 EUR");
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
