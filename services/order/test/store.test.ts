import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { databaseEngines, type EngineDatabase } from "@shop/platform/testing/postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStore, type NewOrder } from "../src/store.js";

const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

function newOrder(recoveryGraceMs: number): NewOrder {
  const id = randomUUID();
  return { orderId: `ord_${id}`, userId: "store-test", requestId: id, requestHash: "h", email: "a@example.com", cardToken: "tok_visa", items: [{ sku: "SKU-MUG-001", quantity: 1 }], recoveryGraceMs };
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

  it("lets only one driver claim an order until its lease is given back", async () => {
    const { record } = await store.insertPending(newOrder(0));
    const orderId = record.order.orderId;
    const claims = await Promise.all([store.claim(orderId, 5_000), store.claim(orderId, 5_000), store.claim(orderId, 5_000)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.dueForRecovery(1000)).not.toContain(orderId);
    await store.unclaim(orderId);
    expect(await store.claim(orderId, 5_000)).toBeDefined();
  });
});
