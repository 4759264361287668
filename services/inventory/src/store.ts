import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Product, ProductSchema } from "@shop/contracts/shop/inventory/v1/product_pb";
import {
  type Reservation,
  ReservationLineSchema,
  ReservationSchema,
  ReservationState,
} from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { alreadyExists, failedPrecondition, notFound } from "@shop/platform";
import type { Database, Queryable } from "@shop/platform/database";

/** A product and quantity to hold. */
export interface StockLine {
  sku: string;
  quantity: number;
}

type ProductRow = {
  sku: string;
  name: string;
  description: string;
  currency_code: string;
  price_minor: bigint;
  on_hand: number;
  reserved: number;
};
/** `overdue`: a HELD row past its expire_at by the database's clock, the one clock every replica shares. */
type ReservationRow = { reservation_id: string; state: string; expire_at: Date; created_at: Date; overdue: boolean };
type LineRow = { sku: string; quantity: number; unit_price_minor: bigint; currency_code: string; product_name: string };
/** A line read as JSON: the price as text, an int64 kept exact. */
type LineJson = { sku: string; quantity: number; unit_price_minor: string; currency_code: string; product_name: string };

const RESERVATION_COLUMNS = "reservation_id, state, expire_at, created_at, expire_at <= now() AS overdue";

/** The inventory's own database: products, stock and reservations. All stock changes happen here. */
export class InventoryStore {
  constructor(private readonly db: Database) {}

  /** One product, or undefined. */
  async product(sku: string): Promise<Product | undefined> {
    const { rows } = await this.db.query<ProductRow>("SELECT * FROM products WHERE sku = $1", [sku]);
    return rows[0] && toProduct(rows[0]);
  }

  /** Up to `limit` products in SKU order, after `afterSku`. */
  async products(limit: number, afterSku = ""): Promise<Product[]> {
    const { rows } = await this.db.query<ProductRow>("SELECT * FROM products WHERE sku > $1 ORDER BY sku LIMIT $2", [afterSku, limit]);
    return rows.map(toProduct);
  }

  /**
   * Holds stock for every line or for none. Each line is one conditional UPDATE that only
   * succeeds while enough is unreserved, taken in SKU order so concurrent reservations queue on
   * the same rows instead of deadlocking; a short line rolls the whole transaction back. The
   * same reservation id returns the reservation already made.
   */
  async reserve(reservationId: string, lines: StockLine[], ttlMs: number): Promise<Reservation> {
    if (lines.length === 1) {
      const held = await this.reserveOneLine(reservationId, lines[0]!, ttlMs);
      if (held) return held;
    }
    return this.db.transaction(async (tx) => {
      const { rows: created } = await tx.query<ReservationRow>(
        `INSERT INTO reservations (reservation_id, state, expire_at)
         VALUES ($1, 'HELD', now() + ($2::text || ' milliseconds')::interval)
         ON CONFLICT (reservation_id) DO NOTHING
         RETURNING ${RESERVATION_COLUMNS}`,
        [reservationId, String(ttlMs)],
      );
      const reservation = created[0];
      if (!reservation) return this.existingReservation(tx, reservationId, lines);
      const short: string[] = [];
      const held: LineRow[] = [];
      for (const line of [...lines].sort((a, b) => a.sku.localeCompare(b.sku))) {
        // The hold and its reservation line in one statement: no line when the stock is short.
        const { rows } = await tx.query<LineRow>(
          `WITH p AS (UPDATE products SET reserved = reserved + $3 WHERE sku = $2 AND on_hand - reserved >= $3 RETURNING *)
           INSERT INTO reservation_lines (reservation_id, sku, quantity, unit_price_minor, currency_code, product_name)
           SELECT $1, p.sku, $3, p.price_minor, p.currency_code, p.name FROM p
           RETURNING sku, quantity, unit_price_minor, currency_code, product_name`,
          [reservationId, line.sku, line.quantity],
        );
        const row = rows[0];
        if (!row) {
          const exists = await tx.query("SELECT 1 FROM products WHERE sku = $1", [line.sku]);
          if (exists.rowCount === 0)
            throw notFound("PRODUCT_NOT_FOUND", { type: "shop.inventory.v1.Product", name: line.sku }, { sku: line.sku });
          short.push(line.sku);
          continue;
        }
        held.push(row);
      }
      if (short.length > 0) {
        throw failedPrecondition("OUT_OF_STOCK", `not enough stock for ${short.join(", ")}`, { short_skus: short.join(",") });
      }
      // One line is in order as it is; several are read back in the order `load` gives (PostgreSQL's ORDER BY sku).
      return held.length === 1 ? toReservation(reservation, held) : this.load(tx, reservationId);
    });
  }

  /**
   * `reserve` of a new one-line reservation with the stock there, in one statement (atomic on its
   * own, so no BEGIN/COMMIT round trips): the hold, the reservation and its line, or nothing.
   * Undefined when that is not the case — the id is taken, the stock short, the SKU unknown — and
   * the transaction in `reserve` decides (the existing reservation, OUT_OF_STOCK, NOT_FOUND). A
   * concurrent reserve with the same id fails the INSERT on the primary key (no ON CONFLICT here):
   * the whole statement, hold included, rolls back, and the transaction answers.
   */
  private async reserveOneLine(reservationId: string, line: StockLine, ttlMs: number): Promise<Reservation | undefined> {
    try {
      const { rows } = await this.db.query<ReservationRow & LineRow>(
        `WITH p AS (
           UPDATE products SET reserved = reserved + $3
           WHERE sku = $2 AND on_hand - reserved >= $3 AND NOT EXISTS (SELECT 1 FROM reservations WHERE reservation_id = $1)
           RETURNING sku, price_minor, currency_code, name),
         r AS (
           INSERT INTO reservations (reservation_id, state, expire_at)
           SELECT $1, 'HELD', now() + ($4::text || ' milliseconds')::interval FROM p
           RETURNING ${RESERVATION_COLUMNS}),
         l AS (
           INSERT INTO reservation_lines (reservation_id, sku, quantity, unit_price_minor, currency_code, product_name)
           SELECT r.reservation_id, p.sku, $3, p.price_minor, p.currency_code, p.name FROM p, r
           RETURNING sku, quantity, unit_price_minor, currency_code, product_name)
         SELECT r.*, l.* FROM r, l`,
        [reservationId, line.sku, line.quantity, String(ttlMs)],
      );
      const row = rows[0];
      return row && toReservation(row, [row]);
    } catch (error) {
      if ((error as { code?: string }).code === "23505") return undefined; // unique_violation: the id was reserved meanwhile
      throw error;
    }
  }

  /**
   * Turns a HELD reservation into a sale; COMMITTED is a no-op; anything else is refused. A HELD
   * reservation still in time is committed by one statement; any other takes the row lock first.
   */
  async commit(reservationId: string): Promise<Reservation> {
    const { rows } = await this.db.query<ReservationRow & { lines: LineJson[] | null }>(
      `WITH r AS (
         UPDATE reservations SET state = 'COMMITTED', updated_at = now()
         WHERE reservation_id = $1 AND state = 'HELD' AND expire_at > now()
         RETURNING ${RESERVATION_COLUMNS}),
       p AS (
         UPDATE products p SET on_hand = p.on_hand - l.quantity, reserved = p.reserved - l.quantity
         FROM reservation_lines l, r WHERE l.reservation_id = r.reservation_id AND l.sku = p.sku
         RETURNING p.sku)
       SELECT r.*, (SELECT count(*) FROM p) AS changed,
         (SELECT json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity, 'unit_price_minor', l.unit_price_minor::text,
            'currency_code', l.currency_code, 'product_name', l.product_name) ORDER BY l.sku)
          FROM reservation_lines l WHERE l.reservation_id = r.reservation_id) AS lines
       FROM r`,
      [reservationId],
    );
    if (rows[0]) return toReservation(rows[0], rows[0].lines ?? []);
    return this.commitLocked(reservationId);
  }

  /** `commit` of a reservation that is not HELD and in time: under its row lock. */
  private async commitLocked(reservationId: string): Promise<Reservation> {
    const reservation = await this.db.transaction(async (tx) => {
      const held = await this.lockForChange(tx, reservationId);
      if (held.state === "HELD" && held.overdue) {
        // Too late: expire it (kept, as the sweep would) and refuse below.
        await this.giveBack(tx, reservationId, "EXPIRED", "reserved");
      } else if (held.state === "HELD") {
        await tx.query(
          `UPDATE products p SET on_hand = p.on_hand - l.quantity, reserved = p.reserved - l.quantity
           FROM reservation_lines l WHERE l.reservation_id = $1 AND l.sku = p.sku`,
          [reservationId],
        );
        await tx.query(`UPDATE reservations SET state = 'COMMITTED', updated_at = now() WHERE reservation_id = $1`, [reservationId]);
      }
      return this.load(tx, reservationId);
    });
    if (reservation.state !== ReservationState.COMMITTED) {
      const state = ReservationState[reservation.state];
      throw failedPrecondition("RESERVATION_NOT_HELD", `reservation ${reservationId} is ${state}, not HELD`, {
        reservation_id: reservationId,
        state,
      });
    }
    return reservation;
  }

  /**
   * Gives a reservation's stock back: HELD stock is unreserved, COMMITTED stock restocked (a
   * cancelled sale). Releasing a released, expired or unknown reservation changes nothing.
   */
  async release(reservationId: string): Promise<Reservation | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<ReservationRow>(
        `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE reservation_id = $1 FOR UPDATE`,
        [reservationId],
      );
      const current = rows[0];
      if (!current) return undefined;
      if (current.state === "HELD") await this.giveBack(tx, reservationId, "RELEASED", "reserved");
      if (current.state === "COMMITTED") await this.giveBack(tx, reservationId, "RELEASED", "on_hand");
      return this.load(tx, reservationId);
    });
  }

  /** Expires HELD reservations past their time; returns how many. */
  async expireOverdue(limit = 100): Promise<number> {
    const { rows } = await this.db.query<{ reservation_id: string }>(
      `SELECT reservation_id FROM reservations WHERE state = 'HELD' AND expire_at <= now() ORDER BY expire_at LIMIT $1`,
      [limit],
    );
    let expired = 0;
    for (const { reservation_id: id } of rows) {
      expired += await this.db.transaction(async (tx) => {
        const { rows: locked } = await tx.query<ReservationRow>(
          `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE reservation_id = $1 AND state = 'HELD' AND expire_at <= now() FOR UPDATE`,
          [id],
        );
        if (!locked[0]) return 0;
        await this.giveBack(tx, id, "EXPIRED", "reserved");
        return 1;
      });
    }
    return expired;
  }

  /**
   * Adds units to a product's stock on hand; undefined for an unknown SKU. A restock that would take
   * on_hand past what its INTEGER column holds is refused, rather than failing inside PostgreSQL.
   */
  async restock(sku: string, quantity: number): Promise<Product | undefined> {
    const { rows } = await this.db.query<ProductRow>(
      "UPDATE products SET on_hand = on_hand + $2 WHERE sku = $1 AND on_hand <= 2147483647 - $2 RETURNING *",
      [sku, quantity],
    );
    if (rows[0]) return toProduct(rows[0]);
    if (!(await this.product(sku))) return undefined;
    throw failedPrecondition("STOCK_LIMIT_EXCEEDED", `${sku} cannot hold ${quantity} more units`, { sku });
  }

  /** Ends a reservation: `reserved` units are unreserved, `on_hand` units restocked. */
  private async giveBack(tx: Queryable, reservationId: string, state: "RELEASED" | "EXPIRED", from: "reserved" | "on_hand"): Promise<void> {
    const change = from === "reserved" ? "reserved = p.reserved - l.quantity" : "on_hand = p.on_hand + l.quantity";
    await tx.query(`UPDATE products p SET ${change} FROM reservation_lines l WHERE l.reservation_id = $1 AND l.sku = p.sku`, [
      reservationId,
    ]);
    await tx.query(`UPDATE reservations SET state = $2, updated_at = now() WHERE reservation_id = $1`, [reservationId, state]);
  }

  private async lockForChange(tx: Queryable, reservationId: string): Promise<ReservationRow> {
    const { rows } = await tx.query<ReservationRow>(
      `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE reservation_id = $1 FOR UPDATE`,
      [reservationId],
    );
    if (!rows[0]) throw notFound("RESERVATION_NOT_FOUND", { type: "shop.inventory.v1.Reservation", name: reservationId });
    return rows[0];
  }

  /**
   * A repeated ReserveStock: the same lines get the reservation back as it is now (an overdue
   * hold comes back EXPIRED); different lines under the same id are refused with ALREADY_EXISTS.
   */
  private async existingReservation(tx: Queryable, reservationId: string, lines: StockLine[]): Promise<Reservation> {
    const current = await this.lockForChange(tx, reservationId);
    // A hold past its time is expired, whether or not the sweep has come by yet.
    if (current.state === "HELD" && current.overdue) await this.giveBack(tx, reservationId, "EXPIRED", "reserved");
    const existing = await this.load(tx, reservationId);
    const asked = lines
      .map((l) => `${l.sku}x${l.quantity}`)
      .sort()
      .join(",");
    const held = existing.lines
      .map((l) => `${l.sku}x${l.quantity}`)
      .sort()
      .join(",");
    if (asked !== held) {
      throw alreadyExists("RESERVATION_ID_REUSED", `reservation ${reservationId} already exists with other lines`, {
        reservation_id: reservationId,
      });
    }
    return existing;
  }

  private async load(tx: Queryable, reservationId: string): Promise<Reservation> {
    const { rows } = await tx.query<ReservationRow>(`SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE reservation_id = $1`, [
      reservationId,
    ]);
    const row = rows[0];
    if (!row) throw notFound("RESERVATION_NOT_FOUND", { type: "shop.inventory.v1.Reservation", name: reservationId });
    const { rows: lines } = await tx.query<LineRow>(`SELECT * FROM reservation_lines WHERE reservation_id = $1 ORDER BY sku`, [
      reservationId,
    ]);
    return toReservation(row, lines);
  }
}

function toReservation(row: ReservationRow, lines: Array<LineRow | LineJson>): Reservation {
  return create(ReservationSchema, {
    reservationId: row.reservation_id,
    state: ReservationState[row.state as keyof typeof ReservationState],
    expireTime: timestampFromDate(new Date(row.expire_at)),
    createTime: timestampFromDate(new Date(row.created_at)),
    lines: lines.map((line) =>
      create(ReservationLineSchema, {
        sku: line.sku,
        quantity: line.quantity,
        productName: line.product_name,
        unitPrice: { currencyCode: line.currency_code, amountMinor: BigInt(line.unit_price_minor) },
      }),
    ),
  });
}

function toProduct(row: ProductRow): Product {
  return create(ProductSchema, {
    sku: row.sku,
    name: row.name,
    description: row.description,
    price: { currencyCode: row.currency_code, amountMinor: BigInt(row.price_minor) },
    availableQuantity: row.on_hand - row.reserved,
  });
}
