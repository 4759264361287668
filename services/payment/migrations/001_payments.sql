-- Payments, one per idempotency key. A row with state VOIDED and no amount is a tombstone: the
-- key was voided before any authorization with it was recorded, so none will ever be.
CREATE TABLE payments (
  payment_id      TEXT PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  order_id        TEXT NOT NULL,
  currency_code   TEXT NOT NULL,
  amount_minor    BIGINT NOT NULL,
  card_token      TEXT NOT NULL,
  processor_ref   TEXT NOT NULL DEFAULT '',
  state           TEXT NOT NULL,
  decline_reason  TEXT NOT NULL DEFAULT '',
  refund_reason   TEXT NOT NULL DEFAULT '',
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX payments_by_order ON payments (order_id);
