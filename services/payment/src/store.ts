import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Payment, PaymentSchema, PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import type { Database, Queryable } from "@shop/platform/database";

/**
 * A payment's state as stored: the public states, plus PENDING for a key whose authorization
 * is at the processor right now. PENDING rows are never shown to callers by id.
 */
export type StoredState = keyof typeof PaymentState | "PENDING";

/** A payment as stored, with what the public message does not show. */
export interface PaymentRecord {
  payment: Payment;
  state: StoredState;
  idempotencyKey: string;
  cardToken: string;
  processorRef: string;
  /** A key voided before any authorization with it was recorded: it will never authorize. */
  tombstone: boolean;
}

/** What an authorization is for; a repeated key must come with the same. */
export interface AuthorizationArgs {
  orderId: string;
  amount: Money;
  cardToken: string;
}

/** A state change decided while the payment row is locked. */
export interface PaymentChange {
  state: Exclude<StoredState, "PENDING">;
  refundReason?: string;
}

/** Which payment to lock: by id, or by idempotency key (recording a voided key when it is unknown). */
export type PaymentTarget = { paymentId: string } | { idempotencyKey: string; tombstoneIfMissing: true };

type PaymentRow = {
  payment_id: string;
  idempotency_key: string;
  order_id: string;
  currency_code: string;
  amount_minor: bigint;
  card_token: string;
  processor_ref: string;
  state: string;
  decline_reason: string;
  created_at: Date;
  updated_at: Date;
};

/**
 * The payment service's own database. The idempotency key is UNIQUE: whoever inserts it first
 * owns the authorization (state PENDING while at the processor), so concurrent calls with one
 * key reach the processor once. Later changes lock the row, so a capture and a void of the
 * same payment can never both reach the processor.
 */
export class PaymentStore {
  constructor(private readonly db: Database) {}

  /** The payment with this id (never a PENDING claim). */
  async byId(paymentId: string): Promise<PaymentRecord | undefined> {
    const { rows } = await this.db.query<PaymentRow>("SELECT * FROM payments WHERE payment_id = $1 AND state <> 'PENDING'", [paymentId]);
    return rows[0] && toRecord(rows[0]);
  }

  /** Whatever holds this idempotency key, PENDING claims included. */
  async byKey(idempotencyKey: string): Promise<PaymentRecord | undefined> {
    const { rows } = await this.db.query<PaymentRow>("SELECT * FROM payments WHERE idempotency_key = $1", [idempotencyKey]);
    return rows[0] && toRecord(rows[0]);
  }

  /**
   * Claims `idempotencyKey` for an authorization: true with the new PENDING row when this caller
   * must go to the processor, false with the row that already holds the key otherwise. A PENDING
   * claim older than `staleAfterMs` (its owner died at the processor) is taken over, but only by
   * the same arguments; the processor's own idempotency key keeps that from holding twice.
   */
  async claim(
    idempotencyKey: string,
    paymentId: string,
    args: AuthorizationArgs,
    staleAfterMs: number,
  ): Promise<{ claimed: boolean; record: PaymentRecord }> {
    const { rows } = await this.db.query<PaymentRow>(
      `INSERT INTO payments (payment_id, idempotency_key, order_id, currency_code, amount_minor, card_token, state)
       VALUES ($1, $2, $3, $4, $5, $6, 'PENDING')
       ON CONFLICT (idempotency_key) DO UPDATE SET updated_at = now()
         WHERE payments.state = 'PENDING'
           AND payments.updated_at < now() - ($7::text || ' milliseconds')::interval
           AND payments.order_id = EXCLUDED.order_id
           AND payments.currency_code = EXCLUDED.currency_code
           AND payments.amount_minor = EXCLUDED.amount_minor
           AND payments.card_token = EXCLUDED.card_token
       RETURNING *`,
      [
        paymentId,
        idempotencyKey,
        args.orderId,
        args.amount.currencyCode,
        args.amount.amountMinor.toString(),
        args.cardToken,
        String(staleAfterMs),
      ],
    );
    if (rows[0]) return { claimed: true, record: toRecord(rows[0]) };
    const holder = await this.byKey(idempotencyKey);
    if (!holder) throw new Error(`payment for key ${idempotencyKey} vanished`); // only an abandoned claim is ever deleted
    return { claimed: false, record: holder };
  }

  /**
   * Records the processor's answer on a PENDING claim. Undefined when the claim is no longer
   * PENDING: the key was voided meanwhile, and the caller must drop any hold it got.
   */
  async settle(
    paymentId: string,
    outcome: { state: "AUTHORIZED"; processorRef: string } | { state: "DECLINED"; declineReason: string },
  ): Promise<PaymentRecord | undefined> {
    const { rows } = await this.db.query<PaymentRow>(
      `UPDATE payments SET state = $2, processor_ref = $3, decline_reason = $4, created_at = now(), updated_at = now()
       WHERE payment_id = $1 AND state = 'PENDING' RETURNING *`,
      [
        paymentId,
        outcome.state,
        outcome.state === "AUTHORIZED" ? outcome.processorRef : "",
        outcome.state === "DECLINED" ? outcome.declineReason : "",
      ],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** Gives up a PENDING claim whose authorization failed transiently, so a retry can make it again. */
  async abandon(paymentId: string): Promise<void> {
    await this.db.query("DELETE FROM payments WHERE payment_id = $1 AND state = 'PENDING'", [paymentId]);
  }

  /**
   * Locks one payment (FOR UPDATE) and lets `decide` — which may call the processor — return the
   * change to make, or undefined for none; a throw rolls back. Undefined when there is no such
   * payment. A key target that is unknown is first recorded as a VOIDED tombstone.
   */
  async change(
    target: PaymentTarget,
    decide: (record: PaymentRecord) => Promise<PaymentChange | undefined>,
  ): Promise<PaymentRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const row = "paymentId" in target ? await lockById(tx, target.paymentId) : await lockByKeyOrTombstone(tx, target.idempotencyKey);
      if (!row) return undefined;
      const record = toRecord(row);
      const change = await decide(record);
      if (!change) return record;
      const { rows } = await tx.query<PaymentRow>(
        `UPDATE payments SET state = $2, refund_reason = COALESCE($3, refund_reason), updated_at = now() WHERE payment_id = $1 RETURNING *`,
        [row.payment_id, change.state, change.refundReason ?? null],
      );
      return toRecord(rows[0]!);
    });
  }
}

async function lockById(tx: Queryable, paymentId: string): Promise<PaymentRow | undefined> {
  const { rows } = await tx.query<PaymentRow>("SELECT * FROM payments WHERE payment_id = $1 AND state <> 'PENDING' FOR UPDATE", [
    paymentId,
  ]);
  return rows[0];
}

async function lockByKeyOrTombstone(tx: Queryable, idempotencyKey: string): Promise<PaymentRow | undefined> {
  await tx.query(
    `INSERT INTO payments (payment_id, idempotency_key, order_id, currency_code, amount_minor, card_token, state)
     VALUES ($1, $2, '', '', 0, '', 'VOIDED') ON CONFLICT (idempotency_key) DO NOTHING`,
    [newPaymentId(), idempotencyKey],
  );
  const { rows } = await tx.query<PaymentRow>("SELECT * FROM payments WHERE idempotency_key = $1 FOR UPDATE", [idempotencyKey]);
  return rows[0];
}

/** A new server-assigned payment id. */
export function newPaymentId(): string {
  return `pay_${randomUUID().replaceAll("-", "")}`;
}

function toRecord(row: PaymentRow): PaymentRecord {
  const state = row.state as StoredState;
  return {
    state,
    idempotencyKey: row.idempotency_key,
    cardToken: row.card_token,
    processorRef: row.processor_ref,
    tombstone: state === "VOIDED" && row.card_token === "",
    payment: create(PaymentSchema, {
      paymentId: row.payment_id,
      orderId: row.order_id,
      amount: { currencyCode: row.currency_code, amountMinor: BigInt(row.amount_minor) },
      state: state === "PENDING" ? PaymentState.UNSPECIFIED : PaymentState[state],
      declineReason: row.decline_reason,
      createTime: timestampFromDate(new Date(row.created_at)),
      updateTime: timestampFromDate(new Date(row.updated_at)),
    }),
  };
}
