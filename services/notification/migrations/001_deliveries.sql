-- One row per delivered notification. command_id UNIQUE is the de-duplication key: the
-- consumer inserts with ON CONFLICT DO NOTHING in the transaction that records the delivery.
create table if not exists deliveries (
  seq              bigserial unique,
  notification_id  text primary key,
  command_id       text not null unique,
  channel          text not null,
  recipient        text not null,
  template         text not null,
  parameters       jsonb not null default '{}'::jsonb,
  body             text not null,
  order_id         text not null default '',
  user_id          text not null default '',
  delivered_at     timestamptz not null default now()
);
create index if not exists deliveries_user_seq_idx on deliveries (user_id, seq desc);
create index if not exists deliveries_order_idx on deliveries (order_id);
create index if not exists deliveries_recipient_idx on deliveries (recipient);
