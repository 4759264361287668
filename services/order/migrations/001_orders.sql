-- Orders and the saga that fulfils them. `status` is what the customer sees; `saga_step` is how
-- far the saga has got, persisted before every remote call so a restart resumes where it stopped.
CREATE TABLE orders (
  order_id        TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL,
  request_id      TEXT NOT NULL,
  request_hash    TEXT NOT NULL,
  email           TEXT NOT NULL,
  card_token      TEXT NOT NULL,
  status          TEXT NOT NULL,
  saga_step       TEXT NOT NULL,
  status_reason   TEXT NOT NULL DEFAULT '',
  currency_code   TEXT NOT NULL DEFAULT '',
  total_minor     BIGINT NOT NULL DEFAULT 0,
  payment_id      TEXT NOT NULL DEFAULT '',
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  locked_until    TIMESTAMPTZ,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (user_id, request_id)
);

-- The recovery loop's work list: orders whose saga has not finished.
CREATE INDEX orders_unfinished ON orders (next_attempt_at) WHERE saga_step NOT IN ('DONE');
-- ListOrders: a customer's orders, newest first.
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, order_id DESC);

CREATE TABLE order_lines (
  order_id         TEXT NOT NULL REFERENCES orders (order_id),
  line_no          INTEGER NOT NULL,
  sku              TEXT NOT NULL,
  quantity         INTEGER NOT NULL,
  unit_price_minor BIGINT NOT NULL DEFAULT 0,
  currency_code    TEXT NOT NULL DEFAULT '',
  product_name     TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (order_id, line_no)
);
