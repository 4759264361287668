import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PaymentSchema, PaymentState, type Payment } from "@shop/contracts/shop/payment/v1/payment_pb";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import type { Database } from "@shop/platform/database";

/** A payment as stored, with what the public message does not show. */
export interface PaymentRecord {
  payment: Payment;
  idempotencyKey: string;
  cardToken: string;
  processorRef: string;
}

/** A new payment row: an authorization's result, or a tombstone for a voided key. */
export interface NewPayment {
  paymentId: string;
  idempotencyKey: string;
  orderId: string;
  amount: Money;
  cardToken: string;
  processorRef: string;
  state: PaymentState;
  declineReason: string;
}

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

/** The payment service's own database. */
export class PaymentStore {
  constructor(private readonly db: Database) {}

  /** The payment with this id. */
  async byId(paymentId: string): Promise<PaymentRecord | undefined> {
    const { rows } = await this.db.query<PaymentRow>("SELECT * FROM payments WHERE payment_id = $1", [paymentId]);
    return rows[0] && toRecord(rows[0]);
  }

  /** The payment made with this idempotency key. */
  async byKey(idempotencyKey: string): Promise<PaymentRecord | undefined> {
    const { rows } = await this.db.query<PaymentRow>("SELECT * FROM payments WHERE idempotency_key = $1", [idempotencyKey]);
    return rows[0] && toRecord(rows[0]);
  }

  /** Records a payment unless its key is taken; returns whichever payment holds the key. */
  async insertOnce(payment: NewPayment): Promise<PaymentRecord> {
    await this.db.query(
      `INSERT INTO payments (payment_id, idempotency_key, order_id, currency_code, amount_minor, card_token, processor_ref, state, decline_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        payment.paymentId,
        payment.idempotencyKey,
        payment.orderId,
        payment.amount.currencyCode,
        payment.amount.amountMinor.toString(),
        payment.cardToken,
        payment.processorRef,
        PaymentState[payment.state],
        payment.declineReason,
      ],
    );
    const stored = await this.byKey(payment.idempotencyKey);
    if (!stored) throw new Error(`payment for key ${payment.idempotencyKey} vanished`);
    return stored;
  }

  /** Moves a payment from `from` to `to`; returns the payment as it is afterwards, moved or not. */
  async transition(paymentId: string, from: PaymentState, to: PaymentState, refundReason?: string): Promise<PaymentRecord | undefined> {
    await this.db.query(
      `UPDATE payments SET state = $3, refund_reason = COALESCE($4, refund_reason), updated_at = now() WHERE payment_id = $1 AND state = $2`,
      [paymentId, PaymentState[from], PaymentState[to], refundReason ?? null],
    );
    return this.byId(paymentId);
  }
}

function toRecord(row: PaymentRow): PaymentRecord {
  return {
    idempotencyKey: row.idempotency_key,
    cardToken: row.card_token,
    processorRef: row.processor_ref,
    payment: create(PaymentSchema, {
      paymentId: row.payment_id,
      orderId: row.order_id,
      amount: { currencyCode: row.currency_code, amountMinor: BigInt(row.amount_minor) },
      state: PaymentState[row.state as keyof typeof PaymentState],
      declineReason: row.decline_reason,
      createTime: timestampFromDate(new Date(row.created_at)),
      updateTime: timestampFromDate(new Date(row.updated_at)),
    }),
  };
}
