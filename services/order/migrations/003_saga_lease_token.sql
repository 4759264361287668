-- Fencing for the saga's lease: every claim takes the next token, and every write a driver makes
-- names the token it claimed with, so a driver whose lease was taken over writes nothing.
ALTER TABLE orders ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
-- The customer's own words when cancelling, passed on with the refund; the customer-visible
-- status_reason is one of the shop's fixed reasons ("cancelled by customer").
ALTER TABLE orders ADD COLUMN cancel_note TEXT NOT NULL DEFAULT '';
