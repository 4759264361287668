import { Code, ConnectError } from "@connectrpc/connect";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { errorInfo } from "@shop/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryStore } from "../src/store.js";
import { addProduct, type EngineDatabase, engines, reservationId } from "./engines.js";

const HOUR = 3_600_000;

describe.each(engines)("InventoryStore on $engine", ({ open }) => {
  let handle: EngineDatabase;
  let store: InventoryStore;
  beforeAll(async () => {
    handle = await open();
    store = new InventoryStore(handle.db);
  });
  afterAll(async () => {
    await handle?.dispose();
  });

  const available = async (sku: string) => (await store.product(sku))?.availableQuantity;

  it("is seeded with a dozen EUR-priced products in stock", async () => {
    const products = await store.products(100);
    const seeded = products.filter((p) => /^SKU-[A-Z]{3}-\d{3}$/.test(p.sku));
    expect(seeded).toHaveLength(12);
    for (const p of seeded) {
      expect(p.name).not.toBe("");
      expect(p.description).not.toBe("");
      expect(p.price?.currencyCode).toBe("EUR");
      expect(p.price?.amountMinor).toBeGreaterThan(0n);
      expect(p.availableQuantity).toBeGreaterThan(0);
    }
  });

  it("holds every line of a reservation, priced, and lowers what is available", async () => {
    const a = await addProduct(handle.db, 10, 1999n);
    const b = await addProduct(handle.db, 5, 250n);
    const id = reservationId();
    const reservation = await store.reserve(
      id,
      [
        { sku: b, quantity: 2 },
        { sku: a, quantity: 3 },
      ],
      HOUR,
    );
    expect(reservation.state).toBe(ReservationState.HELD);
    expect(reservation.lines.map((l) => [l.sku, l.quantity, l.unitPrice?.amountMinor])).toEqual(
      [
        [a, 3, 1999n],
        [b, 2, 250n],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect(reservation.expireTime!.seconds - reservation.createTime!.seconds).toBeGreaterThanOrEqual(3599n);
    expect(await available(a)).toBe(7);
    expect(await available(b)).toBe(3);
  });

  it("returns the same reservation for a repeated id without holding stock twice", async () => {
    const sku = await addProduct(handle.db, 4);
    const id = reservationId();
    const first = await store.reserve(id, [{ sku, quantity: 3 }], HOUR);
    const again = await store.reserve(id, [{ sku, quantity: 3 }], HOUR);
    expect(again).toEqual(first);
    expect(await available(sku)).toBe(1);
  });

  it("refuses a repeated id with other lines as ALREADY_EXISTS", async () => {
    const sku = await addProduct(handle.db, 4);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 1 }], HOUR);
    const error = await store.reserve(id, [{ sku, quantity: 2 }], HOUR).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.AlreadyExists);
    expect(await available(sku)).toBe(3);
  });

  it("holds nothing when one line is short, naming the short SKUs", async () => {
    const plenty = await addProduct(handle.db, 10);
    const scarce = await addProduct(handle.db, 1);
    const gone = await addProduct(handle.db, 0);
    const error = await store
      .reserve(
        reservationId(),
        [
          { sku: plenty, quantity: 5 },
          { sku: scarce, quantity: 2 },
          { sku: gone, quantity: 1 },
        ],
        HOUR,
      )
      .catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.FailedPrecondition);
    const info = errorInfo(error);
    expect(info?.reason).toBe("OUT_OF_STOCK");
    expect(info?.metadata.short_skus?.split(",").sort()).toEqual([scarce, gone].sort());
    expect(await available(plenty)).toBe(10);
    expect(await available(scarce)).toBe(1);
  });

  it("refuses an unknown SKU with NOT_FOUND reason PRODUCT_NOT_FOUND and holds nothing", async () => {
    const sku = await addProduct(handle.db, 10);
    const error = await store
      .reserve(
        reservationId(),
        [
          { sku, quantity: 1 },
          { sku: "SKU-NOPE-999", quantity: 1 },
        ],
        HOUR,
      )
      .catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
    expect(await available(sku)).toBe(10);
  });

  it("leaves no reservation behind when a one-line reservation is short or names an unknown SKU", async () => {
    const sku = await addProduct(handle.db, 2);
    const shortId = reservationId();
    const short = await store.reserve(shortId, [{ sku, quantity: 3 }], HOUR).catch((e: unknown) => e);
    expect(errorInfo(short)?.reason).toBe("OUT_OF_STOCK");
    const unknownId = reservationId();
    const unknown = await store.reserve(unknownId, [{ sku: "SKU-NOPE-997", quantity: 1 }], HOUR).catch((e: unknown) => e);
    expect(ConnectError.from(unknown).code).toBe(Code.NotFound);
    expect(errorInfo(unknown)?.reason).toBe("PRODUCT_NOT_FOUND");
    const { rows } = await handle.db.query<{ n: number }>("SELECT count(*)::int AS n FROM reservations WHERE reservation_id IN ($1, $2)", [
      shortId,
      unknownId,
    ]);
    expect(rows[0]?.n).toBe(0);
    expect(await available(sku)).toBe(2);
    // The same id with the stock there afterwards is a fresh reservation.
    expect((await store.reserve(shortId, [{ sku, quantity: 2 }], HOUR)).state).toBe(ReservationState.HELD);
    expect(await available(sku)).toBe(0);
  });

  it("commits a HELD reservation once; a repeated commit is a no-op", async () => {
    const sku = await addProduct(handle.db, 5);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 2 }], HOUR);
    const committed = await store.commit(id);
    expect(committed.state).toBe(ReservationState.COMMITTED);
    expect((await store.commit(id)).state).toBe(ReservationState.COMMITTED);
    expect(await available(sku)).toBe(3);
    const { rows } = await handle.db.query<{ on_hand: number; reserved: number }>("SELECT on_hand, reserved FROM products WHERE sku = $1", [
      sku,
    ]);
    expect(rows[0]).toEqual({ on_hand: 3, reserved: 0 });
  });

  it("commits a multi-line reservation in one go: every product's stock moves, lines come back priced in SKU order", async () => {
    const a = await addProduct(handle.db, 10, 700n);
    const b = await addProduct(handle.db, 10, 300n);
    const id = reservationId();
    await store.reserve(
      id,
      [
        { sku: b, quantity: 4 },
        { sku: a, quantity: 1 },
      ],
      HOUR,
    );
    const committed = await store.commit(id);
    expect(committed.state).toBe(ReservationState.COMMITTED);
    expect(committed.lines.map((l) => [l.sku, l.quantity, l.unitPrice?.amountMinor, l.productName !== ""])).toEqual(
      [
        [a, 1, 700n, true],
        [b, 4, 300n, true],
      ].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1)),
    );
    const { rows } = await handle.db.query<{ sku: string; on_hand: number; reserved: number }>(
      "SELECT sku, on_hand, reserved FROM products WHERE sku = ANY($1::text[]) ORDER BY sku",
      [[a, b]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.sku, [r.on_hand, r.reserved]]))).toEqual({ [a]: [9, 0], [b]: [6, 0] });
  });

  it("lets exactly one of a racing commit and release act on a HELD reservation, and the stock adds up either way", async () => {
    for (let round = 0; round < 5; round += 1) {
      const sku = await addProduct(handle.db, 5);
      const id = reservationId();
      await store.reserve(id, [{ sku, quantity: 2 }], HOUR);
      const [commit, release] = await Promise.allSettled([store.commit(id), store.release(id)]);
      expect(release.status).toBe("fulfilled");
      const { rows } = await handle.db.query<{ on_hand: number; reserved: number }>(
        "SELECT on_hand, reserved FROM products WHERE sku = $1",
        [sku],
      );
      if (commit.status === "fulfilled") {
        // committed first, then the release restocked the sale
        expect(rows[0]).toEqual({ on_hand: 5, reserved: 0 });
      } else {
        expect(ConnectError.from(commit.reason).code).toBe(Code.FailedPrecondition);
        expect(rows[0]).toEqual({ on_hand: 5, reserved: 0 });
      }
      expect((await store.release(id))?.state).toBe(ReservationState.RELEASED);
    }
  });

  it("refuses to commit a released reservation (FAILED_PRECONDITION) and an unknown one (NOT_FOUND)", async () => {
    const sku = await addProduct(handle.db, 5);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 2 }], HOUR);
    await store.release(id);
    const error = await store.commit(id).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.FailedPrecondition);
    const unknown = await store.commit(reservationId()).catch((e: unknown) => e);
    expect(ConnectError.from(unknown).code).toBe(Code.NotFound);
    expect(await available(sku)).toBe(5);
  });

  it("releases a HELD reservation back to sale, and a repeated or unknown release changes nothing", async () => {
    const sku = await addProduct(handle.db, 5);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 4 }], HOUR);
    expect((await store.release(id))?.state).toBe(ReservationState.RELEASED);
    expect((await store.release(id))?.state).toBe(ReservationState.RELEASED);
    expect(await store.release(reservationId())).toBeUndefined();
    expect(await available(sku)).toBe(5);
  });

  it("restocks a COMMITTED reservation on release (a cancelled sale)", async () => {
    const sku = await addProduct(handle.db, 5);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 2 }], HOUR);
    await store.commit(id);
    expect(await available(sku)).toBe(3);
    expect((await store.release(id))?.state).toBe(ReservationState.RELEASED);
    expect((await store.release(id))?.state).toBe(ReservationState.RELEASED);
    expect(await available(sku)).toBe(5);
  });

  it("expires a HELD reservation past its time to live and gives its stock back", async () => {
    const sku = await addProduct(handle.db, 3);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 3 }], 30);
    expect(await available(sku)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await store.expireOverdue()).toBeGreaterThanOrEqual(1);
    expect(await available(sku)).toBe(3);
    expect((await store.reserve(id, [{ sku, quantity: 3 }], HOUR)).state).toBe(ReservationState.EXPIRED);
    const error = await store.commit(id).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.FailedPrecondition);
    expect((await store.release(id))?.state).toBe(ReservationState.EXPIRED);
    expect(await available(sku)).toBe(3);
  });

  it("treats an overdue hold as expired on commit even before the sweep runs", async () => {
    const sku = await addProduct(handle.db, 2);
    const id = reservationId();
    await store.reserve(id, [{ sku, quantity: 2 }], 20);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const error = await store.commit(id).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.FailedPrecondition);
    expect(await available(sku)).toBe(2);
    expect((await store.reserve(id, [{ sku, quantity: 2 }], HOUR)).state).toBe(ReservationState.EXPIRED);
  });

  it("never oversells: of 30 parallel reservations for the last 7 units exactly 7 win", async () => {
    const sku = await addProduct(handle.db, 7);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => store.reserve(reservationId(), [{ sku, quantity: 1 }], HOUR)),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(7);
    for (const r of lost) expect(errorInfo(r.reason)?.reason).toBe("OUT_OF_STOCK");
    expect(await available(sku)).toBe(0);
    const { rows } = await handle.db.query<{ on_hand: number; reserved: number }>("SELECT on_hand, reserved FROM products WHERE sku = $1", [
      sku,
    ]);
    expect(rows[0]).toEqual({ on_hand: 7, reserved: 7 });
  });

  it("neither deadlocks nor oversells when parallel multi-line reservations name the same products in opposite orders", async () => {
    const a = await addProduct(handle.db, 10);
    const b = await addProduct(handle.db, 10);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        store.reserve(
          reservationId(),
          i % 2
            ? [
                { sku: a, quantity: 1 },
                { sku: b, quantity: 1 },
              ]
            : [
                { sku: b, quantity: 1 },
                { sku: a, quantity: 1 },
              ],
          HOUR,
        ),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(10);
    for (const r of results) if (r.status === "rejected") expect(errorInfo(r.reason)?.reason).toBe("OUT_OF_STOCK");
    expect(await available(a)).toBe(0);
    expect(await available(b)).toBe(0);
  });

  it("returns one reservation to 10 parallel calls with the same id", async () => {
    const sku = await addProduct(handle.db, 10);
    const id = reservationId();
    const results = await Promise.all(Array.from({ length: 10 }, () => store.reserve(id, [{ sku, quantity: 2 }], HOUR)));
    expect(new Set(results.map((r) => r.reservationId))).toEqual(new Set([id]));
    expect(await available(sku)).toBe(8);
  });

  it("adds restocked units to what is available", async () => {
    const sku = await addProduct(handle.db, 1);
    expect((await store.restock(sku, 4))?.availableQuantity).toBe(5);
    expect(await store.restock("SKU-NOPE-998", 1)).toBeUndefined();
  });
});
