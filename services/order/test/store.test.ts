import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { databaseEngines, type EngineDatabase } from "@shop/platform/testing/postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLostError, type NewOrder, OrderStore } from "../src/store.js";

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

describe.each(databaseEngines(migrationsDir, "order"))("order store on $engine", ({ open }) => {
  let handle: EngineDatabase;
  let store: OrderStore;
  beforeAll(async () => {
    handle = await open();
    store = new OrderStore(handle.db);
  });
  afterAll(() => handle?.dispose());

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

    await expect(store.transaction((tx) => store.advance(tx, stale, { step: "AUTHORIZING", reason: "stale" }))).rejects.toThrow(
      LeaseLostError,
    );
    expect(await store.recordFailure(stale, "stale", new Date())).toBe(false);
    expect(await store.renew(stale, 60_000)).toBe(false);
    const untouched = await store.get(orderId);
    expect([untouched?.sagaStep, untouched?.order.statusReason, untouched?.attempts]).toEqual(["RESERVING", "", 0]);

    const current = { orderId, token: second!.leaseToken };
    expect(await store.renew(current, 60_000)).toBe(true);
    const advanced = await store.transaction((tx) => store.advance(tx, current, { step: "AUTHORIZING" }));
    expect(advanced.sagaStep).toBe("AUTHORIZING");
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
});
