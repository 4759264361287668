import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { context, trace } from "@opentelemetry/api";
import type { Queryable } from "../database/database.js";
import { enableContextPropagation } from "../observability/tracing.js";
import { startCreateSpan } from "./message-spans.js";
import { type AmqpHeaders, injectTraceHeaders } from "./trace-headers.js";

/**
 * The outbox table, as a migration: a service that publishes through the outbox puts this in
 * its migrations folder (e.g. `migrations/00N_outbox.sql`). Rows are pending while
 * `published_at` is null; the partial index keeps the relay's scan small; a relay holds the rows
 * it is publishing until `claimed_until`, so relays of several replicas publish each row once.
 */
export const OUTBOX_TABLE_SQL = `
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
alter table outbox add column if not exists claimed_until timestamptz null;
`;

/**
 * The column by which relays claim rows (`claimed_until`), for an outbox made before it existed:
 * the last statement of `OUTBOX_TABLE_SQL`, as a migration of its own.
 */
export const OUTBOX_CLAIMS_SQL = `alter table outbox add column if not exists claimed_until timestamptz null;
`;

/** A message to put in the outbox. */
export interface OutboxMessage<Desc extends DescMessage> {
  schema: Desc;
  message: MessageShape<Desc>;
  /** Becomes the AMQP message-id; consumers de-duplicate by it. Unique in the table. */
  messageId: string;
  routingKey: string;
  headers?: AmqpHeaders;
  /** Where the relay will publish it (its publisher's exchange): names the PRODUCER span. */
  destination?: string;
}

/**
 * Writes `msg` into the outbox inside the caller's transaction `tx`, so it is published if and
 * only if the transaction commits. A PRODUCER span (`create <destination>`, a child of the
 * active span) marks the write; its context — the message's creation context — is stored in
 * the row's headers as `traceparent`, and the relay and every consumer continue it.
 * Enqueueing the same messageId twice is a no-op.
 */
export async function enqueueOutbox<Desc extends DescMessage>(tx: Queryable, msg: OutboxMessage<Desc>): Promise<void> {
  enableContextPropagation(); // normally on already (a relay or client); later rows carry the trace
  const span = startCreateSpan(
    msg.destination ?? "",
    { messageId: msg.messageId, routingKey: msg.routingKey, type: msg.schema.typeName },
    context.active(),
  );
  try {
    await insert(tx, msg, trace.setSpan(context.active(), span));
  } finally {
    span.end();
  }
}

async function insert<Desc extends DescMessage>(tx: Queryable, msg: OutboxMessage<Desc>, creation: ReturnType<typeof context.active>) {
  await tx.query(
    `insert into outbox (message_id, message_type, routing_key, payload, headers)
     values ($1, $2, $3, $4, $5::jsonb) on conflict (message_id) do nothing`,
    [
      msg.messageId,
      msg.schema.typeName,
      msg.routingKey,
      toBinary(msg.schema, msg.message),
      JSON.stringify(injectTraceHeaders(msg.headers, creation)),
    ],
  );
}
