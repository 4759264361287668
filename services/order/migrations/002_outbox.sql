-- The transactional outbox: the platform's OUTBOX_TABLE_SQL (@shop/platform/messaging), verbatim;
-- a test checks the two stay the same.
create table if not exists outbox (
  id            bigserial primary key,
  message_id    text not null unique,
  message_type  text not null,
  routing_key   text not null,
  payload       bytea not null,
  headers       jsonb not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  published_at  timestamptz null,
  attempts      integer not null default 0,
  last_error    text null
);
create index if not exists outbox_pending_idx on outbox (id) where published_at is null;
