import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Order, OrderLineSchema, OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { type Money, MoneySchema } from "@shop/contracts/shop/type/v1/money_pb";
import type { Database, Queryable } from "@shop/platform/database";

/**
 * How far an order's saga has got, named by what it does next. Persisted before every remote
 * call, so a restarted service resumes exactly where the last one stopped.
 */
export type SagaStep =
  | "RESERVING" // hold stock next
  | "AUTHORIZING" // stock held; authorize the payment next
  | "COMMITTING" // payment authorized; commit the reservation next
  | "CAPTURING" // stock committed; capture the payment next
  | "COMPENSATING" // giving back whatever is held, then REJECTED
  | "CANCELLING" // refunding and restocking a confirmed order, then CANCELLED
  | "DONE"; // nothing left to do

/** A new order as CreateOrder accepts it, before any remote call. */
export interface NewOrder {
  orderId: string;
  userId: string;
  requestId: string;
  /** A digest of the request, to tell a retry from a different order reusing the request id. */
  requestHash: string;
  email: string;
  cardToken: string;
  items: Array<{ sku: string; quantity: number }>;
  /**
   * How long the recovery loop leaves a new order to the request that placed it: without this
   * grace a recovery pass could claim the order between its insert and the request's own claim,
   * and the caller would be answered PENDING for an order that completes a moment later.
   */
  recoveryGraceMs: number;
}

/** An order with the saga's private bookkeeping. */
export interface OrderRecord {
  order: Order;
  requestHash: string;
  cardToken: string;
  sagaStep: SagaStep;
  attempts: number;
  lastError: string;
  createdAt: Date;
  /** The token of the last claim: a driver's writes name it (see `SagaLease`). */
  leaseToken: bigint;
  /** The customer's own words when cancelling (not shown as the status reason). */
  cancelNote: string;
}

/**
 * The right to drive one order's saga, as `claim` granted it. Every write the driver makes names
 * the token and lands only while it is still the order's latest: a later claim (the lease ran
 * out and another driver took over) fences the earlier driver off.
 */
export interface SagaLease {
  orderId: string;
  token: bigint;
}

/** Thrown by a fenced write whose lease was taken over: the write did not happen. */
export class LeaseLostError extends Error {
  constructor(readonly lease: SagaLease) {
    super(`the saga lease of order ${lease.orderId} (token ${lease.token}) was taken over by another driver`);
    this.name = "LeaseLostError";
  }
}

/** A priced line, as the inventory reserved it. */
export interface PricedLine {
  sku: string;
  quantity: number;
  unitPrice: Money;
  productName: string;
}

/** What one saga step changes, written in one transaction. */
export interface OrderChange {
  step: SagaStep;
  status?: OrderStatus;
  reason?: string;
  paymentId?: string;
  lines?: PricedLine[];
  total?: Money;
}

/**
 * Where a page of ListOrders continues: the last order's creation time as PostgreSQL prints it
 * (microseconds kept: a JS Date would round them off and skip orders made in the same
 * millisecond) and its id.
 */
export interface OrderPageKey {
  createdAt: string;
  orderId: string;
}

/** An order as ListOrders pages through them. */
export interface ListedOrder {
  record: OrderRecord;
  key: OrderPageKey;
}

type OrderRow = {
  order_id: string;
  user_id: string;
  request_id: string;
  request_hash: string;
  email: string;
  card_token: string;
  status: string;
  saga_step: string;
  status_reason: string;
  currency_code: string;
  total_minor: bigint | string | number;
  payment_id: string;
  attempts: number;
  last_error: string;
  lease_token: bigint | string | number;
  cancel_note: string;
  created_at: Date | string;
  updated_at: Date | string;
};

type LineRow = {
  order_id: string;
  sku: string;
  quantity: number;
  unit_price_minor: bigint | string | number;
  currency_code: string;
  product_name: string;
};

const ORDER_COLUMNS = `order_id, user_id, request_id, request_hash, email, card_token, status, saga_step, status_reason,
  currency_code, total_minor, payment_id, attempts, last_error, lease_token, cancel_note, created_at, updated_at`;

/** The order service's own database: orders and their lines (the outbox table is the platform's). */
export class OrderStore {
  constructor(private readonly db: Database) {}

  /** Runs `work` in one transaction: the saga changes an order and writes its messages in one. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  /**
   * Inserts a PENDING order, or returns the one already placed with the same request id.
   * `announce` runs in the inserting transaction with the new order (to write its event).
   */
  async insertPending(
    order: NewOrder,
    announce?: (tx: Queryable, inserted: Order) => Promise<void>,
  ): Promise<{ record: OrderRecord; created: boolean }> {
    const created = await this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO orders (order_id, user_id, request_id, request_hash, email, card_token, status, saga_step, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'RESERVING', now() + ($8::text || ' milliseconds')::interval)
         ON CONFLICT (user_id, request_id) DO NOTHING`,
        [
          order.orderId,
          order.userId,
          order.requestId,
          order.requestHash,
          order.email,
          order.cardToken,
          OrderStatus[OrderStatus.PENDING],
          String(order.recoveryGraceMs),
        ],
      );
      if (inserted.rowCount === 0) return false;
      for (const [lineNo, item] of order.items.entries()) {
        await tx.query(`INSERT INTO order_lines (order_id, line_no, sku, quantity) VALUES ($1, $2, $3, $4)`, [
          order.orderId,
          lineNo,
          item.sku,
          item.quantity,
        ]);
      }
      if (announce) {
        const inserted = await this.get(order.orderId, tx);
        if (inserted) await announce(tx, inserted.order);
      }
      return true;
    });
    const existing = created ? await this.get(order.orderId) : await this.findByRequest(order.userId, order.requestId);
    if (!existing) throw new Error(`order for request ${order.requestId} vanished`);
    return { record: existing, created };
  }

  /** The order with this id, whoever owns it; read through `tx` inside a transaction. */
  async get(orderId: string, tx: Queryable = this.db): Promise<OrderRecord | undefined> {
    const { rows } = await tx.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE order_id = $1`, [orderId]);
    return (await withLines(tx, rows))[0];
  }

  /** The order a customer placed with a request id. */
  async findByRequest(userId: string, requestId: string): Promise<OrderRecord | undefined> {
    const { rows } = await this.db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND request_id = $2`, [
      userId,
      requestId,
    ]);
    return (await withLines(this.db, rows))[0];
  }

  /** A customer's orders, newest first, after `after`. */
  async list(userId: string, limit: number, after?: OrderPageKey): Promise<ListedOrder[]> {
    type ListedRow = OrderRow & { created_key: string };
    const columns = `${ORDER_COLUMNS}, created_at::text AS created_key`;
    const { rows } = after
      ? await this.db.query<ListedRow>(
          `SELECT ${columns} FROM orders
           WHERE user_id = $1 AND (created_at, order_id) < ($2::timestamptz, $3)
           ORDER BY created_at DESC, order_id DESC LIMIT $4`,
          [userId, after.createdAt, after.orderId, limit],
        )
      : await this.db.query<ListedRow>(
          `SELECT ${columns} FROM orders WHERE user_id = $1 ORDER BY created_at DESC, order_id DESC LIMIT $2`,
          [userId, limit],
        );
    const records = await withLines(this.db, rows);
    return records.map((record, i) => ({ record, key: { createdAt: rows[i]!.created_key, orderId: record.order.orderId } }));
  }

  /**
   * Takes the right to drive an order's saga for `leaseMs`, so two drivers (a request and the
   * recovery loop, or two replicas) never run the same order at once. Each claim takes the next
   * lease token (see `SagaLease`). Undefined when another driver holds it.
   */
  async claim(orderId: string, leaseMs: number): Promise<OrderRecord | undefined> {
    const { rowCount } = await this.db.query(
      `UPDATE orders SET locked_until = now() + ($2::text || ' milliseconds')::interval, lease_token = lease_token + 1
       WHERE order_id = $1 AND saga_step <> 'DONE' AND (locked_until IS NULL OR locked_until < now())`,
      [orderId, String(leaseMs)],
    );
    return rowCount === 1 ? this.get(orderId) : undefined;
  }

  /**
   * Extends a held lease by `leaseMs` from now. False when it was taken over (a later claim),
   * which also stops a renewal from reviving a lease someone else now holds.
   */
  async renew(lease: SagaLease, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE orders SET locked_until = now() + ($3::text || ' milliseconds')::interval
       WHERE order_id = $1 AND lease_token = $2 AND saga_step <> 'DONE'`,
      [lease.orderId, lease.token.toString(), String(leaseMs)],
    );
    return rowCount === 1;
  }

  /**
   * Records one step of the saga inside the caller's transaction `tx`: the new step, and the
   * status, reason, payment and prices it brings. Returns the order as it now is in `tx`.
   * Fenced: throws `LeaseLostError`, having written nothing, when `lease` was taken over.
   */
  async advance(tx: Queryable, lease: SagaLease, change: OrderChange): Promise<OrderRecord> {
    const { orderId } = lease;
    const sets = ["saga_step = $3", "attempts = 0", "last_error = ''", "next_attempt_at = now()", "updated_at = now()"];
    const params: unknown[] = [orderId, lease.token.toString(), change.step];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (change.status !== undefined) set("status", OrderStatus[change.status]);
    if (change.reason !== undefined) set("status_reason", change.reason);
    if (change.paymentId !== undefined) set("payment_id", change.paymentId);
    if (change.total !== undefined) {
      set("currency_code", change.total.currencyCode);
      set("total_minor", change.total.amountMinor.toString());
    }
    if (change.step === "DONE") sets.push("locked_until = NULL");
    const { rowCount } = await tx.query(`UPDATE orders SET ${sets.join(", ")} WHERE order_id = $1 AND lease_token = $2`, params);
    if (rowCount !== 1) throw new LeaseLostError(lease);
    for (const line of change.lines ?? []) {
      await tx.query(
        `UPDATE order_lines SET unit_price_minor = $3, currency_code = $4, product_name = $5 WHERE order_id = $1 AND sku = $2`,
        [orderId, line.sku, line.unitPrice.amountMinor.toString(), line.unitPrice.currencyCode, line.productName],
      );
    }
    const record = await this.get(orderId, tx);
    if (!record) throw new Error(`order ${orderId} vanished`);
    return record;
  }

  /**
   * Starts cancelling a CONFIRMED order (the saga refunds and restocks it next). False when the
   * order is not CONFIRMED and settled, e.g. a concurrent cancellation got there first.
   */
  async beginCancellation(orderId: string, note: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE orders SET saga_step = 'CANCELLING', cancel_note = $2, attempts = 0, next_attempt_at = now(), updated_at = now()
       WHERE order_id = $1 AND status = 'CONFIRMED' AND saga_step = 'DONE'`,
      [orderId, note],
    );
    return rowCount === 1;
  }

  /**
   * Notes a transient failure and gives the lease up: the recovery loop tries the step again at
   * `retryAt`. Fenced like `advance`: false, having written nothing, when `lease` was taken over.
   */
  async recordFailure(lease: SagaLease, error: string, retryAt: Date): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE orders SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, locked_until = NULL, updated_at = now()
       WHERE order_id = $1 AND lease_token = $2`,
      [lease.orderId, lease.token.toString(), error.slice(0, 500), retryAt.toISOString()],
    );
    return rowCount === 1;
  }

  /** Ids of unfinished orders due for another attempt and not claimed by a live driver. */
  async dueForRecovery(limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ order_id: string }>(
      `SELECT order_id FROM orders
       WHERE saga_step <> 'DONE' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
       ORDER BY next_attempt_at LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.order_id);
  }
}

/** The records of `rows`, each with its lines, read through `q`. */
async function withLines(q: Queryable, rows: OrderRow[]): Promise<OrderRecord[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.order_id);
  const { rows: lines } = await q.query<LineRow>(`SELECT * FROM order_lines WHERE order_id = ANY($1::text[]) ORDER BY order_id, line_no`, [
    ids,
  ]);
  return rows.map((row) => ({
    order: toOrder(
      row,
      lines.filter((line) => line.order_id === row.order_id),
    ),
    requestHash: row.request_hash,
    cardToken: row.card_token,
    sagaStep: row.saga_step as SagaStep,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: toDate(row.created_at),
    leaseToken: BigInt(row.lease_token),
    cancelNote: row.cancel_note,
  }));
}

function toOrder(row: OrderRow, lines: LineRow[]): Order {
  return create(OrderSchema, {
    orderId: row.order_id,
    userId: row.user_id,
    requestId: row.request_id,
    email: row.email,
    status: OrderStatus[row.status as keyof typeof OrderStatus],
    statusReason: row.status_reason,
    paymentId: row.payment_id,
    total: row.currency_code ? create(MoneySchema, { currencyCode: row.currency_code, amountMinor: BigInt(row.total_minor) }) : undefined,
    lines: lines.map((line) =>
      create(OrderLineSchema, {
        sku: line.sku,
        quantity: line.quantity,
        productName: line.product_name,
        unitPrice: line.currency_code
          ? create(MoneySchema, { currencyCode: line.currency_code, amountMinor: BigInt(line.unit_price_minor) })
          : undefined,
      }),
    ),
    createTime: timestampFromDate(toDate(row.created_at)),
    updateTime: timestampFromDate(toDate(row.updated_at)),
  });
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}
