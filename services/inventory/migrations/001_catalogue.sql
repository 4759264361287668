-- The catalogue and its stock. `reserved` counts units held by live reservations, so what can
-- be sold is on_hand - reserved; the checks make overselling impossible at the database level.
CREATE TABLE products (
  sku           TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  description   TEXT NOT NULL,
  currency_code TEXT NOT NULL,
  price_minor   BIGINT NOT NULL CHECK (price_minor >= 0),
  on_hand       INTEGER NOT NULL CHECK (on_hand >= 0),
  reserved      INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand)
);

CREATE TABLE reservations (
  reservation_id TEXT PRIMARY KEY,
  state          TEXT NOT NULL,
  expire_at      TIMESTAMPTZ NOT NULL,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The expiry sweep's work list.
CREATE INDEX reservations_held_by_expiry ON reservations (expire_at) WHERE state = 'HELD';

CREATE TABLE reservation_lines (
  reservation_id   TEXT NOT NULL REFERENCES reservations (reservation_id),
  sku              TEXT NOT NULL REFERENCES products (sku),
  quantity         INTEGER NOT NULL CHECK (quantity > 0),
  unit_price_minor BIGINT NOT NULL,
  currency_code    TEXT NOT NULL,
  product_name     TEXT NOT NULL,
  PRIMARY KEY (reservation_id, sku)
);
