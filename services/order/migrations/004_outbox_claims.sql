-- The claim column of the platform outbox (OUTBOX_CLAIMS_SQL, @shop/platform/messaging), verbatim:
-- relays of several order replicas claim rows with it, so each row is published once.
alter table outbox add column if not exists claimed_until timestamptz null;
