import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { MoneySchema } from "@shop/contracts/shop/type/v1/money_pb";
import { databaseEngines, type EngineDatabase } from "@shop/platform/testing/postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { LeaseLostError, type NewOrder, type OrderChange, OrderStore, type PricedLine } from "../src/store.js";

const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

function newOrder(recoveryGraceMs: number): NewOrder {
  const id = randomUUID();
  return {
    orderId: `ord_${id}`,
    userId: "store-test",
    requestId: id,
    requestHash: "h",
    email: "a@example.com",
    cardToken: "tok_visa",
    items: [{ sku: "SKU-MUG-001", quantity: 1 }],
    recoveryGraceMs,
  };
}

/** A line as the inventory priced it: `minor` euro cents, named after its SKU. */
function pricedLine(sku: string, minor: bigint): PricedLine {
  return { sku, quantity: 1, unitPrice: create(MoneySchema, { currencyCode: "EUR", amountMinor: minor }), productName: `name of ${sku}` };
}

describe.each(databaseEngines(migrationsDir, "order"))("order store on $engine", ({ open }) => {
  let handle: EngineDatabase;
  let store: OrderStore;
  beforeAll(async () => {
    handle = await open();
    store = new OrderStore(handle.db);
  });
  afterAll(() => handle?.dispose());
  afterEach(() => vi.useRealTimers());

  it("leaves a new order to the request that placed it for the grace period, then to recovery", async () => {
    const { record } = await store.insertPending(newOrder(60_000));
    expect(await store.dueForRecovery(1000)).not.toContain(record.order.orderId);
    // The placing request still claims it at once.
    expect((await store.claim(record.order.orderId, 5_000))?.order.orderId).toBe(record.order.orderId);

    const { record: abandoned } = await store.insertPending(newOrder(0));
    expect(await store.dueForRecovery(1000)).toContain(abandoned.order.orderId);
  });

  it("lets only one driver claim an order until its lease runs out", async () => {
    const { record } = await store.insertPending(newOrder(0));
    const orderId = record.order.orderId;
    const claims = await Promise.all([store.claim(orderId, 300), store.claim(orderId, 300), store.claim(orderId, 300)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.dueForRecovery(1000)).not.toContain(orderId);
    expect(await store.claim(orderId, 300)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 400)); // the lease is the database's clock: wait past it
    expect(await store.claim(orderId, 300)).toBeDefined();
  });

  it("fences a driver whose lease was taken over: its step, failure and renewal write nothing", async () => {
    const { record } = await store.insertPending(newOrder(0));
    const orderId = record.order.orderId;
    const first = await store.claim(orderId, 60_000);
    expect(first).toBeDefined();
    await handle.db.query("UPDATE orders SET locked_until = now() - interval '1 second' WHERE order_id = $1", [orderId]); // it stalled
    const second = await store.claim(orderId, 60_000);
    expect(second?.leaseToken).toBe((first?.leaseToken ?? 0n) + 1n);
    const stale = { orderId, token: first!.leaseToken };

    await expect(store.transaction((tx) => store.advance(tx, first!, { step: "AUTHORIZING", reason: "stale" }))).rejects.toThrow(
      LeaseLostError,
    );
    expect(await store.recordFailure(stale, "stale", new Date())).toBe(false);
    expect(await store.renew(stale, 60_000)).toBe(false);
    const untouched = await store.get(orderId);
    expect([untouched?.sagaStep, untouched?.order.statusReason, untouched?.attempts]).toEqual(["RESERVING", "", 0]);

    const current = { orderId, token: second!.leaseToken };
    expect(await store.renew(current, 60_000)).toBe(true);
    const advanced = await store.transaction((tx) => store.advance(tx, second!, { step: "AUTHORIZING" }));
    expect(advanced.sagaStep).toBe("AUTHORIZING");
  });

  it("inserts an order claimed by the request that placed it: token 1, no other claim until the grace ends, a repeat not claimed again", async () => {
    const placed = { ...newOrder(60_000), claimForRequest: true };
    const { record, created } = await store.insertPending(placed);
    const orderId = record.order.orderId;
    expect([created, record.leaseToken, record.sagaStep]).toEqual([true, 1n, "RESERVING"]);
    expect(await store.get(orderId)).toEqual(record); // what the insert returned is the row it wrote
    expect(record.order.lines.map((l) => [l.sku, l.quantity])).toEqual([["SKU-MUG-001", 1]]);
    expect(await store.claim(orderId, 5_000)).toBeUndefined();
    expect(await store.dueForRecovery(1000)).not.toContain(orderId);
    const again = await store.insertPending({ ...placed, orderId: `ord_${randomUUID()}` });
    expect([again.created, again.record.order.orderId, again.record.leaseToken]).toEqual([false, orderId, 1n]);
    // the placing request's lease drives it
    const advanced = await store.advanceAlone(record, { step: "AUTHORIZING" });
    expect(advanced.sagaStep).toBe("AUTHORIZING");

    const { record: unclaimed } = await store.insertPending(newOrder(0));
    expect(unclaimed.leaseToken).toBe(0n);
    expect((await store.claim(unclaimed.order.orderId, 5_000))?.leaseToken).toBe(1n);
  });

  it("prices every line in the step that advances, on its own, and a fenced step changes neither the order nor its lines", async () => {
    const order = {
      ...newOrder(0),
      items: [
        { sku: "SKU-TEE-002", quantity: 2 },
        { sku: "SKU-MUG-001", quantity: 1 },
        { sku: "SKU-CAP-003", quantity: 3 },
      ],
    };
    const { record } = await store.insertPending(order);
    const orderId = record.order.orderId;
    expect(record.order.lines.map((l) => l.sku)).toEqual(["SKU-TEE-002", "SKU-MUG-001", "SKU-CAP-003"]);
    const first = await store.claim(orderId, 60_000);
    await handle.db.query("UPDATE orders SET locked_until = now() - interval '1 second' WHERE order_id = $1", [orderId]);
    const second = await store.claim(orderId, 60_000);
    // the reservation priced two of the three lines (the third keeps what it had)
    const lines = [pricedLine("SKU-MUG-001", 1_000_000_000_123n), pricedLine("SKU-TEE-002", 250n)];
    const total = create(MoneySchema, { currencyCode: "EUR", amountMinor: 1_000_000_000_623n });

    await expect(store.advanceAlone(first!, { step: "AUTHORIZING", lines, total })).rejects.toThrow(LeaseLostError);
    const untouched = await store.get(orderId);
    expect(untouched?.sagaStep).toBe("RESERVING");
    expect(untouched?.order.lines.map((l) => [l.productName, l.unitPrice])).toEqual([
      ["", undefined],
      ["", undefined],
      ["", undefined],
    ]);

    const advanced = await store.advanceAlone(second!, { step: "AUTHORIZING", lines, total });
    const shown = (r: typeof advanced | undefined) =>
      r?.order.lines.map((l) => [l.sku, l.quantity, l.productName, l.unitPrice?.amountMinor ?? null]);
    expect(shown(advanced)).toEqual([
      ["SKU-TEE-002", 2, "name of SKU-TEE-002", 250n],
      ["SKU-MUG-001", 1, "name of SKU-MUG-001", 1_000_000_000_123n],
      ["SKU-CAP-003", 3, "", null],
    ]);
    expect(advanced.order.total?.amountMinor).toBe(1_000_000_000_623n);
    expect([advanced.sagaStep, advanced.leaseToken]).toEqual(["AUTHORIZING", second!.leaseToken]);
    // what the step returned is what a later read sees
    expect(shown(await store.get(orderId))).toEqual(shown(advanced));
  });

  it("returns from the insert and every kind of step the order a later read sees, to the last field", async () => {
    // advance builds the order it returns from the one it was given and the change (the lease fences
    // every other writer off) instead of reading the row back: the two must not differ.
    const order = {
      ...newOrder(0),
      items: [
        { sku: "SKU-TEE-002", quantity: 2 },
        { sku: "SKU-MUG-001", quantity: 1 },
      ],
    };
    const { record } = await store.insertPending(order);
    const orderId = record.order.orderId;
    expect(await store.get(orderId)).toEqual(record);
    let current = (await store.claim(orderId, 60_000))!;
    const steps: OrderChange[] = [
      { step: "AUTHORIZING", lines: [pricedLine("SKU-MUG-001", 1299n), pricedLine("SKU-TEE-002", 1_000_000_000_001n)] },
      { step: "COMMITTING", paymentId: "pay_0123456789abcdef0123456789abcdef" },
      { step: "CAPTURING", total: create(MoneySchema, { currencyCode: "EUR", amountMinor: 1_000_000_001_300n }) },
      { step: "COMPENSATING", reason: "the payment was declined" },
      { step: "DONE", status: OrderStatus.REJECTED, reason: "PAYMENT_DECLINED" },
    ];
    for (const [i, change] of steps.entries()) {
      const next =
        i === steps.length - 1
          ? await store.advanceAnnouncing(current, change, () => undefined)
          : i % 2 === 0
            ? await store.advanceAlone(current, change)
            : await store.transaction((tx) => store.advance(tx, current, change));
      expect(await store.get(orderId)).toEqual(next);
      current = next;
    }
    expect(current.order.lines.map((l) => [l.sku, l.productName, l.unitPrice?.amountMinor])).toEqual([
      ["SKU-TEE-002", "name of SKU-TEE-002", 1_000_000_000_001n],
      ["SKU-MUG-001", "name of SKU-MUG-001", 1299n],
    ]);
    expect([current.sagaStep, current.order.status, current.order.paymentId]).toEqual([
      "DONE",
      OrderStatus.REJECTED,
      "pay_0123456789abcdef0123456789abcdef",
    ]);
  });

  it("pages a customer's orders made within one millisecond without skipping any", async () => {
    const userId = `pager-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { record } = await store.insertPending({ ...newOrder(0), userId });
      ids.push(record.order.orderId);
    }
    // Microseconds apart, one millisecond: a key rounded to a JS Date would skip the two older ones.
    for (const [i, orderId] of ids.entries()) {
      await handle.db.query("UPDATE orders SET created_at = $2::timestamptz WHERE order_id = $1", [
        orderId,
        `2026-01-01 00:00:00.00010${i + 1}+00`,
      ]);
    }
    const seen: string[] = [];
    let after: Awaited<ReturnType<OrderStore["list"]>>[number]["key"] | undefined;
    for (let page = 0; page < 5; page += 1) {
      const rows = await store.list(userId, 1, after);
      if (rows.length === 0) break;
      seen.push(rows[0]!.record.order.orderId);
      after = rows[0]!.key;
    }
    expect(seen).toEqual([...ids].reverse());
  });
  it("moves an order's update time forward on every change, whichever clock each writer has", async () => {
    // WatchOrder shows a state only if it is newer than the last one shown: a replica whose clock runs
    // ahead (a saga step stamps this process's time) must not make the next change — stamped by the
    // database's clock or by a replica whose clock runs behind — look older and be dropped.
    const { record } = await store.insertPending(newOrder(0));
    const orderId = record.order.orderId;
    const millis = (r: { order: { updateTime?: Parameters<typeof timestampDate>[0] } } | undefined) =>
      r?.order.updateTime ? timestampDate(r.order.updateTime).getTime() : Number.NaN;
    const hour = 3_600_000;

    const first = await store.claim(orderId, 60_000);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + hour }); // this replica's clock: an hour ahead
    const ahead = await store.advanceAlone(first!, { step: "AUTHORIZING" });
    vi.useRealTimers();
    expect(millis(ahead)).toBeGreaterThan(Date.now() + hour - 60_000);

    // the database's clock: a failure noted, then a cancellation begun
    expect(await store.recordFailure({ orderId, token: first!.leaseToken }, "payment unavailable", new Date())).toBe(true);
    const failed = await store.get(orderId);
    expect(millis(failed)).toBeGreaterThan(millis(ahead));

    const second = await store.claim(orderId, 60_000);
    expect(millis(second)).toBe(millis(failed));
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() - hour }); // another replica: an hour behind
    let announced = Number.NaN;
    const behind = await store.advanceAnnouncing(second!, { step: "DONE", status: OrderStatus.CONFIRMED }, (order) => {
      announced = millis({ order });
      return undefined;
    });
    vi.useRealTimers();
    expect(millis(behind)).toBeGreaterThan(millis(failed));
    expect(announced).toBe(millis(behind)); // the order announced is the order written
    expect(millis(await store.get(orderId))).toBe(millis(behind));

    expect(await store.beginCancellation(orderId, "changed my mind")).toBe(true);
    expect(millis(await store.get(orderId))).toBeGreaterThan(millis(behind));
  });
  it("counts the orders whose saga is unfinished and the oldest one's age", async () => {
    const before = await store.unfinishedSagas();
    const { record } = await store.insertPending(newOrder(0));
    const orderId = record.order.orderId;
    await handle.db.query("UPDATE orders SET created_at = now() - interval '90 seconds' WHERE order_id = $1", [orderId]);
    const during = await store.unfinishedSagas();
    expect(during.count).toBe(before.count + 1);
    expect(during.oldestAgeSeconds).toBeGreaterThanOrEqual(90);

    const claimed = await store.claim(orderId, 60_000);
    await store.advanceAlone(claimed!, { step: "DONE", status: OrderStatus.REJECTED, reason: "test" });
    expect((await store.unfinishedSagas()).count).toBe(before.count);
  });
});
