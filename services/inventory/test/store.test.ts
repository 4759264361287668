import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { errorInfo } from "@shop/platform";
import { openDatabase, type Database } from "@shop/platform/database";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryStore } from "../src/store.js";

const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));
let postgres: TestDatabase;
beforeAll(async () => {
  postgres = await createTestDatabase("inventory");
});
afterAll(async () => {
  await postgres?.drop();
});

const engines = [
  { engine: "PGlite", open: () => openDatabase({ migrationsDir }) },
  { engine: "PostgreSQL", open: () => openDatabase({ url: postgres.url, migrationsDir }) },
];

describe.each(engines)("the inventory store on $engine", ({ open }) => {
  let db: Database;
  let store: InventoryStore;
  beforeAll(async () => {
    db = await open();
    store = new InventoryStore(db);
  });
  afterAll(async () => {
    await db?.close();
  });
  const available = async (sku: string) => (await store.product(sku))?.availableQuantity;
  let n = 0;
  const id = () => `res-${Date.now()}-${n++}`;

  it("is seeded with a dozen priced products", async () => {
    const products = await store.products(100);
    expect(products).toHaveLength(12);
    expect(products.every((p) => p.price?.currencyCode === "EUR" && p.price.amountMinor > 0n && p.availableQuantity > 0)).toBe(true);
  });

  it("holds every line or none, naming all the short SKUs", async () => {
    const before = [await available("SKU-MUG-001"), await available("SKU-LMP-010"), await available("SKU-BLK-009")];
    const error = await store
      .reserve(id(), [{ sku: "SKU-MUG-001", quantity: 1 }, { sku: "SKU-LMP-010", quantity: 1000 }, { sku: "SKU-BLK-009", quantity: 1000 }], 60_000)
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("OUT_OF_STOCK");
    expect(errorInfo(error)?.metadata["short_skus"]).toBe("SKU-BLK-009,SKU-LMP-010");
    expect([await available("SKU-MUG-001"), await available("SKU-LMP-010"), await available("SKU-BLK-009")]).toEqual(before);
  });

  it("refuses an unknown SKU with NOT_FOUND", async () => {
    const error = await store.reserve(id(), [{ sku: "SKU-NOPE", quantity: 1 }], 60_000).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
  });

  it("makes a repeated reservation a no-op returning the same reservation", async () => {
    const reservationId = id();
    const before = await available("SKU-TEE-002");
    const first = await store.reserve(reservationId, [{ sku: "SKU-TEE-002", quantity: 2 }], 60_000);
    const again = await store.reserve(reservationId, [{ sku: "SKU-TEE-002", quantity: 2 }], 60_000);
    expect(again).toEqual(first);
    expect(first.lines[0]?.unitPrice?.amountMinor).toBe(2499n);
    expect(await available("SKU-TEE-002")).toBe(before! - 2);
    const reused = await store.reserve(reservationId, [{ sku: "SKU-TEE-002", quantity: 3 }], 60_000).catch((e: unknown) => e);
    expect((reused as ConnectError).code).toBe(Code.AlreadyExists);
  });

  it("commits once, and a release after commit restocks", async () => {
    const reservationId = id();
    const before = await available("SKU-CAP-003");
    await store.reserve(reservationId, [{ sku: "SKU-CAP-003", quantity: 3 }], 60_000);
    expect((await store.commit(reservationId)).state).toBe(ReservationState.COMMITTED);
    expect((await store.commit(reservationId)).state).toBe(ReservationState.COMMITTED);
    expect(await available("SKU-CAP-003")).toBe(before! - 3);
    expect((await store.release(reservationId))?.state).toBe(ReservationState.RELEASED);
    expect((await store.release(reservationId))?.state).toBe(ReservationState.RELEASED);
    expect(await available("SKU-CAP-003")).toBe(before);
  });

  it("releases held stock, and releasing an unknown reservation is a no-op", async () => {
    const reservationId = id();
    const before = await available("SKU-BAG-004");
    await store.reserve(reservationId, [{ sku: "SKU-BAG-004", quantity: 4 }], 60_000);
    await store.release(reservationId);
    expect(await available("SKU-BAG-004")).toBe(before);
    expect(await store.release("never-made")).toBeUndefined();
    const error = await store.commit(reservationId).catch((e: unknown) => e);
    expect(errorInfo(error)?.reason).toBe("RESERVATION_NOT_HELD");
  });

  it("expires a reservation past its time to live and gives its stock back", async () => {
    const reservationId = id();
    const before = await available("SKU-NBK-005");
    await store.reserve(reservationId, [{ sku: "SKU-NBK-005", quantity: 5 }], 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await store.expireOverdue()).toBeGreaterThanOrEqual(1);
    expect(await available("SKU-NBK-005")).toBe(before);
    const error = await store.commit(reservationId).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.metadata["state"]).toBe("EXPIRED");
  });

  it("refuses to commit a reservation that outlived its time, even before the sweep", async () => {
    const reservationId = id();
    const before = await available("SKU-PLT-011");
    await store.reserve(reservationId, [{ sku: "SKU-PLT-011", quantity: 1 }], 30);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const error = await store.commit(reservationId).catch((e: unknown) => e);
    expect(errorInfo(error)?.reason).toBe("RESERVATION_NOT_HELD");
    expect(await available("SKU-PLT-011")).toBe(before);
  });
});

describe("concurrent reservations on PostgreSQL", () => {
  it("never oversell: of 30 parallel reservations for the last 5 units, exactly 5 win", async () => {
    const dbs = await Promise.all([openDatabase({ url: postgres.url, migrationsDir }), openDatabase({ url: postgres.url, migrationsDir })]);
    try {
      const stores = dbs.map((db) => new InventoryStore(db));
      const sku = "SKU-CDL-012";
      const left = (await stores[0]!.product(sku))!.availableQuantity;
      await stores[0]!.reserve("hold-all-but-5", [{ sku, quantity: left - 5 }], 60_000);

      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => stores[i % 2]!.reserve(`race-${i}`, [{ sku, quantity: 1 }, { sku: "SKU-SOC-008", quantity: 1 }], 60_000)),
      );

      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(refused.every((r) => errorInfo(r.reason)?.reason === "OUT_OF_STOCK")).toBe(true);
      expect((await stores[0]!.product(sku))!.availableQuantity).toBe(0);
      const { rows } = await dbs[0]!.query<{ on_hand: number; reserved: number }>("SELECT on_hand, reserved FROM products WHERE sku = $1", [sku]);
      expect(rows[0]!.reserved).toBe(rows[0]!.on_hand);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});
