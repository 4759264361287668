import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import {
  type SendNotificationCommand,
  SendNotificationCommandSchema,
} from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { ChannelModel } from "amqplib";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../src/database/database.js";
import {
  commandTopology,
  enqueueOutbox,
  OUTBOX_TABLE_SQL,
  type OutboxMessage,
  type Publisher,
  queryWithOutbox,
  startOutboxRelay,
} from "../src/messaging/index.js";
import { databaseEngines, type EngineDatabase } from "../src/testing/postgres.js";
import { rabbitTestScope } from "../src/testing/rabbitmq.js";
import { waitFor } from "../src/testing/wait.js";

/**
 * The outbox written by a tenant's own statement (`queryWithOutbox`), and the relay woken when
 * outbox rows commit — on both engines the platform runs on.
 */
const migrationsDir = mkdtempSync(join(tmpdir(), "outbox-statement-"));
writeFileSync(join(migrationsDir, "001_outbox.sql"), OUTBOX_TABLE_SQL);
writeFileSync(join(migrationsDir, "002_things.sql"), "create table things (id text primary key, state text not null);");

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-outbox-statement");
const topology = commandTopology({
  prefix: scope.prefix,
  exchange: "statement.commands",
  queue: "statement.commands.work",
  routingKey: SendNotificationCommandSchema.typeName,
  retryDelaysMs: [100],
});
let publisher: Publisher;
let raw: ChannelModel;

beforeAll(async () => {
  ({ publisher, raw } = await scope.open(topology, logger));
});

afterAll(() => scope.cleanup()); // closes what open() made, then deletes the run's queues

const command = (id: string): OutboxMessage<typeof SendNotificationCommandSchema> => ({
  schema: SendNotificationCommandSchema,
  message: create(SendNotificationCommandSchema, { commandId: id, recipient: "ada@example.com", template: "order_confirmed" }),
  messageId: id,
  routingKey: topology.routingKey,
  destination: topology.exchange,
});

/** Sets a thing's state, and writes `messages` in the same statement when the thing exists. */
function setState(
  db: Parameters<typeof queryWithOutbox>[0],
  id: string,
  state: string,
  messages: OutboxMessage<typeof SendNotificationCommandSchema>[],
) {
  return queryWithOutbox<{ id: string; state: string }>(
    db,
    {
      sql: (outbox) => `WITH t AS (UPDATE things SET state = $2 WHERE id = $1 RETURNING id, state), ${outbox} SELECT * FROM t`,
      params: [id, state],
      when: "t",
    },
    messages,
  );
}

type OutboxRow = { message_id: string; message_type: string; routing_key: string; payload: Uint8Array; headers: unknown; created_at: Date };

async function outboxRows(db: Database): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    "select message_id, message_type, routing_key, payload, headers, created_at from outbox order by id",
  );
  return rows;
}

/** Takes one message off the work queue, or undefined when none is there yet. */
async function takeOne(): Promise<SendNotificationCommand | undefined> {
  const ch = await raw.createChannel();
  try {
    const msg = await ch.get(topology.mainQueue, { noAck: true });
    return msg ? fromBinary(SendNotificationCommandSchema, msg.content) : undefined;
  } finally {
    await ch.close();
  }
}

describe.each(databaseEngines(migrationsDir, "outbox_statement"))("outbox in the caller's statement on $engine", ({ open }) => {
  let engine: EngineDatabase;
  let db: Database;
  beforeAll(async () => {
    engine = await open();
    db = engine.db;
  });
  afterAll(async () => engine?.dispose());
  beforeEach(async () => {
    await db.query("delete from outbox");
  });

  it("writes the caller's change and its messages in one statement, in order, with the given creation time", async () => {
    await db.query("insert into things values ('a', 'new')");
    const createdAt = new Date("2026-12-07T08:00:00.123Z");
    const { rows } = await setState(db, "a", "done", [
      { ...command("a.first"), createdAt },
      { ...command("a.second"), createdAt },
    ]);
    expect(rows).toEqual([{ id: "a", state: "done" }]);
    const written = await outboxRows(db);
    expect(written.map((row) => [row.message_id, row.message_type, row.routing_key])).toEqual([
      ["a.first", SendNotificationCommandSchema.typeName, topology.routingKey],
      ["a.second", SendNotificationCommandSchema.typeName, topology.routingKey],
    ]);
    expect(written.map((row) => row.created_at.getTime())).toEqual([createdAt.getTime(), createdAt.getTime()]);
    expect(fromBinary(SendNotificationCommandSchema, written[0]!.payload).commandId).toBe("a.first");
  });

  it("writes no message when the gating CTE returns no row, and still runs the statement", async () => {
    const { rows } = await setState(db, "missing", "done", [command("missing.event")]);
    expect(rows).toEqual([]);
    expect(await outboxRows(db)).toEqual([]);
    await db.query("insert into things values ('b', 'new')");
    expect((await setState(db, "b", "seen", [])).rows).toEqual([{ id: "b", state: "seen" }]);
    expect(await outboxRows(db)).toEqual([]);
  });

  it("writes a message id once, however often it is written", async () => {
    await db.query("insert into things values ('c', 'new')");
    await setState(db, "c", "one", [command("c.event")]);
    await setState(db, "c", "two", [command("c.event")]);
    await db.transaction((tx) => enqueueOutbox(tx, command("c.event")));
    expect((await outboxRows(db)).map((row) => row.message_id)).toEqual(["c.event"]);
  });

  it("inside a transaction, writes nothing when it rolls back and runs after-commit work only after COMMIT", async () => {
    await db.query("insert into things values ('d', 'new')");
    const ran: string[] = [];
    await db
      .transaction(async (tx) => {
        await setState(tx, "d", "rolled back", [command("d.rolled-back")]);
        tx.afterCommit(() => ran.push("rolled back"));
        throw new Error("business rule failed");
      })
      .catch(() => undefined);
    await db.transaction(async (tx) => {
      await setState(tx, "d", "committed", [command("d.committed")]);
      tx.afterCommit(() => ran.push("committed"));
      expect(ran).toEqual([]); // not before COMMIT
    });
    expect(ran).toEqual(["committed"]);
    expect((await outboxRows(db)).map((row) => row.message_id)).toEqual(["d.committed"]);
    expect((await db.query("select state from things where id = 'd'")).rows).toEqual([{ state: "committed" }]);
  });

  it("wakes the relay when outbox rows commit: published with the relay's poll a minute away", async () => {
    // The relay's first round runs at start; after it, only a wake-up publishes within the test.
    await db.transaction((tx) => enqueueOutbox(tx, command("e.at-start")));
    const relay = startOutboxRelay({ db, publisher, logger, intervalMs: 60_000, registry: new Registry() });
    try {
      await waitFor(async () => (await takeOne())?.commandId === "e.at-start", { what: "the row written before the relay started" });

      await db.query("insert into things values ('e', 'new')");
      await setState(db, "e", "done", [command("e.statement")]);
      await waitFor(async () => (await takeOne())?.commandId === "e.statement", { what: "the statement's message published" });

      await db.transaction((tx) => enqueueOutbox(tx, command("e.transaction")));
      await waitFor(async () => (await takeOne())?.commandId === "e.transaction", { what: "the transaction's message published" });
    } finally {
      await relay.stop();
    }
    expect((await relay.backlog()).count).toBe(0);
  });
});
