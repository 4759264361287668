import { clone, create, type DescMessage } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Order, OrderLineSchema, OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { type Money, MoneySchema } from "@shop/contracts/shop/type/v1/money_pb";
import type { Database, Queryable } from "@shop/platform/database";
import { type OutboxMessage, queryWithOutbox } from "@shop/platform/messaging";

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
  /**
   * When true the new order is inserted already claimed for its saga, by the request that placed
   * it: lease token 1, held for `recoveryGraceMs` (the same span the recovery loop leaves it
   * alone), so that request drives it without a separate claim. The returned record carries the
   * token. A request id seen before is never claimed here.
   */
  claimForRequest?: boolean;
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

/**
 * The outbox message announcing an order as a write leaves it (or none). The store builds that
 * order from the values it is about to write, so the message goes into the outbox in the same
 * statement as the write.
 */
export type Announce = (order: Order) => OutboxMessage<DescMessage> | undefined;

/** What one saga step changes, written in one statement. */
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

/** An order row with its lines, as `LINES` reads them (JSON: the price as text, an int64 kept exact). */
type OrderWithLines = OrderRow & { lines: LineJson[] | null };

type LineJson = {
  sku: string;
  quantity: number;
  unit_price_minor: string;
  currency_code: string;
  product_name: string;
};

const ORDER_COLUMNS = `order_id, user_id, request_id, request_hash, email, card_token, status, saga_step, status_reason,
  currency_code, total_minor, payment_id, attempts, last_error, lease_token, cancel_note, created_at, updated_at`;

/** One line of `l` (an order_lines row) as JSON. */
const LINE_JSON = `json_build_object('sku', l.sku, 'quantity', l.quantity, 'unit_price_minor', l.unit_price_minor::text,
  'currency_code', l.currency_code, 'product_name', l.product_name)`;

/**
 * The lines of the order row `o` in line order, read in the same statement as the order (one
 * round trip instead of two).
 */
const LINES = `(SELECT json_agg(${LINE_JSON} ORDER BY l.line_no) FROM order_lines l WHERE l.order_id = o.order_id) AS lines`;

/** The order service's own database: orders and their lines (the outbox table is the platform's). */
export class OrderStore {
  constructor(private readonly db: Database) {}

  /** Runs `work` in one transaction: the saga changes an order and writes its messages in one. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  /**
   * Inserts a PENDING order, or returns the one already placed with the same request id.
   * `announce` names the message announcing the new order (its OrderPlaced event), written to
   * the outbox by the inserting statement — and only when that statement inserts the order.
   */
  async insertPending(order: NewOrder, announce?: Announce): Promise<{ record: OrderRecord; created: boolean }> {
    // The order's creation time is chosen here, so the announced (and returned) order is the one written.
    const at = new Date();
    const placed = placedOrder(order, at);
    const message = announce?.(placed);
    // The order, its lines and its message in one statement, which returns a row if it inserted.
    const { rows } = await queryWithOutbox(
      this.db,
      {
        sql: (outbox) => `WITH o AS (
           INSERT INTO orders (order_id, user_id, request_id, request_hash, email, card_token, status, saga_step, next_attempt_at,
                               locked_until, lease_token, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'RESERVING', now() + ($8::text || ' milliseconds')::interval,
                   CASE WHEN $11::boolean THEN now() + ($8::text || ' milliseconds')::interval END, CASE WHEN $11::boolean THEN 1 ELSE 0 END,
                   $12, $12)
           ON CONFLICT (user_id, request_id) DO NOTHING
           RETURNING order_id),
         l AS (
           INSERT INTO order_lines (order_id, line_no, sku, quantity)
           SELECT o.order_id, t.n - 1, t.sku, t.quantity FROM o, unnest($9::text[], $10::int[]) WITH ORDINALITY AS t (sku, quantity, n)),
         ${outbox}
         SELECT FROM o`,
        params: [
          order.orderId,
          order.userId,
          order.requestId,
          order.requestHash,
          order.email,
          order.cardToken,
          OrderStatus[OrderStatus.PENDING],
          String(order.recoveryGraceMs),
          order.items.map((item) => item.sku),
          order.items.map((item) => item.quantity),
          order.claimForRequest === true,
          at,
        ],
        when: "o",
      },
      message ? [{ ...message, createdAt: at }] : [],
    );
    if (rows[0]) {
      const record: OrderRecord = {
        order: placed,
        requestHash: order.requestHash,
        cardToken: order.cardToken,
        sagaStep: "RESERVING",
        attempts: 0,
        lastError: "",
        createdAt: at,
        leaseToken: order.claimForRequest === true ? 1n : 0n,
        cancelNote: "",
      };
      return { record, created: true };
    }
    const existing = await this.findByRequest(order.userId, order.requestId);
    if (!existing) throw new Error(`order for request ${order.requestId} vanished`);
    return { record: existing, created: false };
  }

  /** The order with this id, whoever owns it; read through `tx` inside a transaction. */
  async get(orderId: string, tx: Queryable = this.db): Promise<OrderRecord | undefined> {
    const { rows } = await tx.query<OrderWithLines>(`SELECT ${ORDER_COLUMNS}, ${LINES} FROM orders o WHERE order_id = $1`, [orderId]);
    return rows[0] && toRecord(rows[0]);
  }

  /** The order a customer placed with a request id. */
  async findByRequest(userId: string, requestId: string): Promise<OrderRecord | undefined> {
    const { rows } = await this.db.query<OrderWithLines>(
      `SELECT ${ORDER_COLUMNS}, ${LINES} FROM orders o WHERE user_id = $1 AND request_id = $2`,
      [userId, requestId],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** A customer's orders, newest first, after `after`. */
  async list(userId: string, limit: number, after?: OrderPageKey): Promise<ListedOrder[]> {
    type ListedRow = OrderWithLines & { created_key: string };
    const columns = `${ORDER_COLUMNS}, ${LINES}, created_at::text AS created_key`;
    const { rows } = after
      ? await this.db.query<ListedRow>(
          `SELECT ${columns} FROM orders o
           WHERE user_id = $1 AND (created_at, order_id) < ($2::timestamptz, $3)
           ORDER BY created_at DESC, order_id DESC LIMIT $4`,
          [userId, after.createdAt, after.orderId, limit],
        )
      : await this.db.query<ListedRow>(
          `SELECT ${columns} FROM orders o WHERE user_id = $1 ORDER BY created_at DESC, order_id DESC LIMIT $2`,
          [userId, limit],
        );
    return rows.map((row) => ({ record: toRecord(row), key: { createdAt: row.created_key, orderId: row.order_id } }));
  }

  /**
   * Takes the right to drive an order's saga for `leaseMs`, so two drivers (a request and the
   * recovery loop, or two replicas) never run the same order at once. Each claim takes the next
   * lease token (see `SagaLease`). Undefined when another driver holds it.
   */
  async claim(orderId: string, leaseMs: number): Promise<OrderRecord | undefined> {
    const { rows } = await this.db.query<OrderWithLines>(
      `UPDATE orders o SET locked_until = now() + ($2::text || ' milliseconds')::interval, lease_token = lease_token + 1
       WHERE order_id = $1 AND saga_step <> 'DONE' AND (locked_until IS NULL OR locked_until < now())
       RETURNING ${ORDER_COLUMNS}, ${LINES}`,
      [orderId, String(leaseMs)],
    );
    return rows[0] && toRecord(rows[0]);
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
   * Records one step of the saga on the order `current` (as this lease holder last claimed or
   * wrote it) inside the caller's transaction `tx`: the new step, and the status, reason, payment
   * and prices it brings. Fenced by `current`'s lease token: throws `LeaseLostError`, having
   * written nothing, when that lease was taken over. Returns the order as the step leaves it,
   * built here from `current` and `change` rather than read back: the lease fences every other
   * writer of these columns off, and the update time written is the one chosen here (see
   * `updateTimeAfter`), so it is the row the statement leaves (the store's tests compare the two).
   */
  async advance(tx: Queryable, current: OrderRecord, change: OrderChange): Promise<OrderRecord> {
    const at = updateTimeAfter(current.order);
    const statement = advanceStatement(leaseOf(current), change, at);
    const { rows } = await tx.query(statement.alone, statement.params);
    if (!rows[0]) throw new LeaseLostError(leaseOf(current));
    return recordAfter(current, change, at);
  }

  /**
   * `advance` on its own: one statement, so it needs no transaction of its own (a step without
   * an event to write alongside).
   */
  advanceAlone(current: OrderRecord, change: OrderChange): Promise<OrderRecord> {
    return this.advance(this.db, current, change);
  }

  /**
   * `advance` that also writes the message announcing the order as the step leaves it — in the
   * same statement, so the message is published if and only if the step is recorded. Fenced and
   * returned like `advance`.
   */
  async advanceAnnouncing(current: OrderRecord, change: OrderChange, announce: Announce): Promise<OrderRecord> {
    const at = updateTimeAfter(current.order);
    const next = recordAfter(current, change, at);
    const message = announce(next.order);
    const statement = advanceStatement(leaseOf(current), change, at);
    const { rows } = await queryWithOutbox(
      this.db,
      { sql: (outbox) => `WITH ${statement.with}, ${outbox} SELECT FROM o`, params: statement.params, when: "o" },
      message ? [{ ...message, createdAt: at }] : [],
    );
    if (!rows[0]) throw new LeaseLostError(leaseOf(current));
    return next;
  }

  /**
   * Starts cancelling a CONFIRMED order (the saga refunds and restocks it next). False when the
   * order is not CONFIRMED and settled, e.g. a concurrent cancellation got there first.
   */
  async beginCancellation(orderId: string, note: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE orders SET saga_step = 'CANCELLING', cancel_note = $2, attempts = 0, next_attempt_at = now(), updated_at = ${LATER_THAN_BEFORE("now()")}
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
      `UPDATE orders SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, locked_until = NULL, updated_at = ${LATER_THAN_BEFORE("now()")}
       WHERE order_id = $1 AND lease_token = $2`,
      [lease.orderId, lease.token.toString(), error.slice(0, 500), retryAt.toISOString()],
    );
    return rowCount === 1;
  }

  /** How many orders have a saga still running (placed, retrying, compensating), and how old the oldest is. */
  async unfinishedSagas(): Promise<{ count: number; oldestAgeSeconds: number }> {
    const { rows } = await this.db.query<{ count: string | number; oldest: string | number | null }>(
      `SELECT count(*) AS count, extract(epoch from now() - min(created_at)) AS oldest FROM orders WHERE saga_step <> 'DONE'`,
    );
    return { count: Number(rows[0]?.count ?? 0), oldestAgeSeconds: Math.max(0, Number(rows[0]?.oldest ?? 0)) };
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

/**
 * What a change writes as the order's `updated_at`: `time` (the writer's clock: this process's for a
 * saga step, the database's otherwise), but always at least a millisecond after the row's last
 * update. WatchOrder drops a state whose update time is not after the one it showed last, so one
 * replica's clock running ahead of another's (or of the database's) must not make a later change
 * look older. The next millisecond: the API reads timestamps at millisecond precision (and
 * `updateTimeAfter` below makes the same choice, so an announced order's time is the one written).
 */
const LATER_THAN_BEFORE = (time: string) => `GREATEST(${time}, date_trunc('milliseconds', updated_at) + interval '1 millisecond')`;

/** The update time for the next change of `order` (read from its row): now, or a millisecond after its last update if that is later. */
function updateTimeAfter(order: Order): Date {
  const last = order.updateTime ? timestampDate(order.updateTime).getTime() : 0;
  return new Date(Math.max(Date.now(), last + 1));
}

/**
 * The statement of one saga step: the fenced update as CTE `o` (and the lines' prices as `p` when
 * the step brings them), returning a row only when it happened. `at` is the update time written.
 * The text depends only on which columns the step sets, so each shape's text is made once: the
 * database client names prepared statements by their text, and a string made afresh on every
 * call is hashed afresh on every lookup.
 */
function advanceStatement(lease: SagaLease, change: OrderChange, at: Date): AdvanceText & { params: unknown[] } {
  // The columns the step sets beyond the ones every step sets, with their values.
  const sets: Array<[column: string, value: unknown]> = [];
  if (change.status !== undefined) sets.push(["status", OrderStatus[change.status]]);
  if (change.reason !== undefined) sets.push(["status_reason", change.reason]);
  if (change.paymentId !== undefined) sets.push(["payment_id", change.paymentId]);
  if (change.total !== undefined) {
    sets.push(["currency_code", change.total.currencyCode], ["total_minor", change.total.amountMinor.toString()]);
  }
  const lines = change.lines ?? [];
  const params: unknown[] = [lease.orderId, lease.token.toString(), change.step, at, ...sets.map(([, value]) => value)];
  if (lines.length > 0) {
    params.push(
      lines.map((line) => line.sku),
      lines.map((line) => line.unitPrice.amountMinor.toString()),
      lines.map((line) => line.unitPrice.currencyCode),
      lines.map((line) => line.productName),
    );
  }
  const columns = sets.map(([column]) => column);
  const done = change.step === "DONE";
  const shape = `${columns.join(",")}|${done}|${lines.length > 0}`;
  let text = advanceTexts.get(shape);
  if (text === undefined) {
    const list = advanceWithList(columns, done, lines.length > 0);
    text = { with: list, alone: `WITH ${list} SELECT FROM o` };
    advanceTexts.set(shape, text);
  }
  return { ...text, params };
}

/** A step's WITH list, and the whole statement when nothing else is written with it. */
interface AdvanceText {
  with: string;
  alone: string;
}

const advanceTexts = new Map<string, AdvanceText>();

/**
 * The WITH list of `advanceStatement`: the fenced update setting `columns` (parameters $5… in that
 * order) besides what every step sets, clearing the lease when `done`, and the lines' prices (the
 * four arrays after them) when `priced`.
 */
function advanceWithList(columns: readonly string[], done: boolean, priced: boolean): string {
  const sets = [
    "saga_step = $3",
    "attempts = 0",
    "last_error = ''",
    "next_attempt_at = now()",
    `updated_at = ${LATER_THAN_BEFORE("$4")}`,
    ...columns.map((column, i) => `${column} = $${5 + i}`),
    ...(done ? ["locked_until = NULL"] : []),
  ];
  const update = `o AS (UPDATE orders SET ${sets.join(", ")} WHERE order_id = $1 AND lease_token = $2 RETURNING order_id)`;
  if (!priced) return update;
  const n = 4 + columns.length;
  // The lines' prices, only when the fenced update happened.
  return `${update},
    p AS (
      UPDATE order_lines SET unit_price_minor = v.price, currency_code = v.currency, product_name = v.name
      FROM o, unnest($${n + 1}::text[], $${n + 2}::bigint[], $${n + 3}::text[], $${n + 4}::text[]) AS v (sku, price, currency, name)
      WHERE order_lines.order_id = o.order_id AND order_lines.sku = v.sku)`;
}

/** The lease a record was claimed (or written) under. */
function leaseOf(record: OrderRecord): SagaLease {
  return { orderId: record.order.orderId, token: record.leaseToken };
}

/** `current` as `advanceStatement` leaves it after `change` at `at`: as reading it back would give it. */
function recordAfter(current: OrderRecord, change: OrderChange, at: Date): OrderRecord {
  return { ...current, order: orderAfter(current.order, change, at), sagaStep: change.step, attempts: 0, lastError: "" };
}

/** The order `insertPending` writes for `order`, made at `at`: as reading it back would give it. */
function placedOrder(order: NewOrder, at: Date): Order {
  const time = timestampFromDate(at);
  return create(OrderSchema, {
    orderId: order.orderId,
    userId: order.userId,
    requestId: order.requestId,
    email: order.email,
    status: OrderStatus.PENDING,
    lines: order.items.map(({ sku, quantity }) => create(OrderLineSchema, { sku, quantity })),
    createTime: time,
    updateTime: time,
  });
}

/** `order` as `advanceStatement` leaves it after `change` at `at`: as reading it back would give it. */
function orderAfter(order: Order, change: OrderChange, at: Date): Order {
  const next = clone(OrderSchema, order);
  if (change.status !== undefined) next.status = change.status;
  if (change.reason !== undefined) next.statusReason = change.reason;
  if (change.paymentId !== undefined) next.paymentId = change.paymentId;
  if (change.total !== undefined) next.total = change.total.currencyCode ? clone(MoneySchema, change.total) : undefined;
  for (const priced of change.lines ?? []) {
    for (const line of next.lines.filter((l) => l.sku === priced.sku)) {
      line.unitPrice = priced.unitPrice.currencyCode ? clone(MoneySchema, priced.unitPrice) : undefined;
      line.productName = priced.productName;
    }
  }
  next.updateTime = timestampFromDate(at);
  return next;
}

/** The record of an order row read with its lines. */
function toRecord(row: OrderWithLines): OrderRecord {
  return {
    order: toOrder(row, row.lines ?? []),
    requestHash: row.request_hash,
    cardToken: row.card_token,
    sagaStep: row.saga_step as SagaStep,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: toDate(row.created_at),
    leaseToken: BigInt(row.lease_token),
    cancelNote: row.cancel_note,
  };
}

function toOrder(row: OrderRow, lines: LineJson[]): Order {
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
