import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { context, trace } from "@opentelemetry/api";
import type { Queryable, QueryResult } from "../database/database.js";
import { enableContextPropagation } from "../observability/tracing.js";
import { startCreateSpan } from "./message-spans.js";
import { nudgeOutboxRelays } from "./outbox-nudge.js";
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
  /**
   * When the message was made, stored as the row's `created_at` (the backlog's age is measured
   * from it); default the statement's `now()`. E.g. the time an event states, written by the same statement.
   */
  createdAt?: Date;
}

/**
 * Writes `msg` into the outbox inside the caller's transaction `tx`, so it is published if and
 * only if the transaction commits. A PRODUCER span (`create <destination>`, a child of the
 * active span) marks the write; its context — the message's creation context — is stored in
 * the row's headers as `traceparent`, and the relay and every consumer continue it.
 * Enqueueing the same messageId twice is a no-op. Once `tx` commits, this process's relay is
 * woken (see outbox-nudge.ts).
 */
export async function enqueueOutbox<Desc extends DescMessage>(tx: Queryable, msg: OutboxMessage<Desc>): Promise<void> {
  await withCreateSpans([msg], async (rows) => {
    await tx.query(
      `insert into outbox (message_id, message_type, routing_key, payload, headers, created_at)
       values ${rows.values} on conflict (message_id) do nothing`,
      rows.params,
    );
  });
  tx.afterCommit(nudgeOutboxRelays);
}

/** A statement of the caller's own that writes outbox rows as part of it (see `queryWithOutbox`). */
export interface OutboxStatement {
  /**
   * The statement, given the outbox's CTE to put in its WITH list after the CTE named by `when`:
   * `(outbox) => \`WITH o AS (UPDATE … RETURNING …), ${outbox} SELECT … FROM o\``.
   */
  sql: (outbox: string) => string;
  /** The statement's own parameters, `$1`…; the outbox's follow them. */
  params: readonly unknown[];
  /** The CTE whose rows decide: the messages are written when it returns a row, and not at all when it returns none. */
  when: string;
}

/**
 * Runs the caller's statement with the outbox rows of `messages` written by that same statement
 * — one round trip, no BEGIN/COMMIT — when its CTE `when` returns a row (e.g. a fenced UPDATE that
 * happened). Rows, spans, trace headers and duplicate handling are `enqueueOutbox`'s; the rows
 * are in `messages`' order. The relay is woken once `db` has committed them (at once on the
 * database itself; after COMMIT when `db` is a transaction). Returns the statement's result.
 */
export async function queryWithOutbox<Row extends Record<string, unknown>>(
  db: Queryable,
  statement: OutboxStatement,
  messages: ReadonlyArray<OutboxMessage<DescMessage>>,
): Promise<QueryResult<Row>> {
  const result = await withCreateSpans(
    messages,
    (rows) => {
      const outbox =
        messages.length === 0
          ? "outbox_rows AS (SELECT WHERE false)"
          : `outbox_rows AS (
             INSERT INTO outbox (message_id, message_type, routing_key, payload, headers, created_at)
             SELECT * FROM (VALUES ${rows.values}) AS m WHERE EXISTS (SELECT FROM ${statement.when})
             ON CONFLICT (message_id) DO NOTHING)`;
      return db.query<Row>(statement.sql(outbox), [...statement.params, ...rows.params]);
    },
    statement.params.length + 1,
  );
  if (messages.length > 0) db.afterCommit(nudgeOutboxRelays);
  return result;
}

/** Outbox rows as a `VALUES` list from parameter `$first` on: its text and parameters. */
interface OutboxValues {
  values: string;
  params: unknown[];
}

/**
 * Runs `write` with the rows of `messages`, each under its PRODUCER span (`create <destination>`,
 * a child of the active span) whose context its headers carry; ends the spans when it settles.
 */
async function withCreateSpans<T>(
  messages: ReadonlyArray<OutboxMessage<DescMessage>>,
  write: (rows: OutboxValues) => Promise<T>,
  first = 1,
): Promise<T> {
  enableContextPropagation(); // normally on already (a relay or client); later rows carry the trace
  const active = context.active();
  const spans = messages.map((msg) =>
    startCreateSpan(msg.destination ?? "", { messageId: msg.messageId, routingKey: msg.routingKey, type: msg.schema.typeName }, active),
  );
  try {
    const values: string[] = [];
    const params: unknown[] = [];
    messages.forEach((msg, i) => {
      const n = first + params.length;
      values.push(
        `($${n}::text, $${n + 1}::text, $${n + 2}::text, $${n + 3}::bytea, $${n + 4}::jsonb, coalesce($${n + 5}::timestamptz, now()))`,
      );
      params.push(
        msg.messageId,
        msg.schema.typeName,
        msg.routingKey,
        toBinary(msg.schema, msg.message),
        JSON.stringify(injectTraceHeaders(msg.headers, trace.setSpan(active, spans[i]!))),
        msg.createdAt ?? null,
      );
    });
    return await write({ values: values.join(", "), params });
  } finally {
    for (const span of spans) span.end();
  }
}
