import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { ChannelModel } from "amqplib";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/database/database.js";
import { openDatabase } from "../src/database/index.js";
import {
  commandTopology,
  connectMessaging,
  createPublisher,
  declareTopology,
  enqueueOutbox,
  OUTBOX_TABLE_SQL,
  type Publisher,
  startOutboxRelay,
} from "../src/messaging/index.js";
import { rabbitTestScope } from "../src/testing/rabbitmq.js";
import { waitFor } from "../src/testing/wait.js";

/** An in-memory PGlite database with just the outbox table, made the way a service makes its own. */
async function memoryDatabase(sql: string): Promise<Database> {
  const dir = mkdtempSync(join(tmpdir(), "outbox-migrations-"));
  writeFileSync(join(dir, "001_outbox.sql"), sql);
  return openDatabase({ migrationsDir: dir });
}

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-outbox");
const topology = commandTopology({
  prefix: scope.prefix,
  exchange: "test.commands",
  queue: "test.commands.work",
  routingKey: SendNotificationCommandSchema.typeName,
  retryDelaysMs: [100],
});
let publisher: Publisher;
let raw: ChannelModel;

const command = (id: string) =>
  create(SendNotificationCommandSchema, { commandId: id, recipient: "ada@example.com", template: "order_confirmed" });

async function drainMainQueue(): Promise<string[]> {
  const ch = await raw.createChannel();
  const ids: string[] = [];
  for (;;) {
    const msg = await ch.get(topology.mainQueue, { noAck: true });
    if (!msg) break;
    ids.push(String(msg.properties.messageId));
  }
  await ch.close();
  return ids;
}

beforeAll(async () => {
  ({ publisher, raw } = await scope.open(topology, logger));
});

afterAll(() => scope.cleanup()); // closes what open() made, then deletes the run's queues

describe("outbox", () => {
  let db: Database;
  beforeAll(async () => {
    db = await memoryDatabase(OUTBOX_TABLE_SQL);
  });

  it("writes the row only when the caller's transaction commits", async () => {
    await db
      .transaction(async (tx) => {
        await enqueueOutbox(tx, {
          schema: SendNotificationCommandSchema,
          message: command("rolled-back"),
          messageId: "rolled-back",
          routingKey: topology.routingKey,
        });
        throw new Error("business rule failed");
      })
      .catch(() => undefined);
    await db.transaction((tx) =>
      enqueueOutbox(tx, {
        schema: SendNotificationCommandSchema,
        message: command("committed"),
        messageId: "committed",
        routingKey: topology.routingKey,
      }),
    );
    const { rows } = await db.query<{ message_id: string; message_type: string }>("select message_id, message_type from outbox");
    expect(rows).toEqual([{ message_id: "committed", message_type: "shop.notification.v1.SendNotificationCommand" }]);
    await db.query("delete from outbox");
  });

  it("relay publishes pending rows in id order and marks them published after the ack; an unroutable row stays pending with last_error", async () => {
    for (const id of ["o-1", "o-2", "o-unroutable", "o-3"]) {
      await db.transaction((tx) =>
        enqueueOutbox(tx, {
          schema: SendNotificationCommandSchema,
          message: command(id),
          messageId: id,
          routingKey: id === "o-unroutable" ? "no.such.route" : topology.routingKey,
        }),
      );
    }
    const registry = new Registry();
    const relay = startOutboxRelay({ db, publisher, logger, intervalMs: 50, batchSize: 10, registry });
    const published = await waitFor(async () => {
      const { rows } = await db.query<{ n: number }>("select count(*)::int as n from outbox where published_at is not null");
      return rows[0]!.n === 3 ? rows : undefined;
    });
    expect(published).toBeTruthy();
    await relay.stop();
    expect(await drainMainQueue()).toEqual(["o-1", "o-2", "o-3"]);
    const { rows } = await db.query<{ published_at: unknown; last_error: string; attempts: number }>(
      "select published_at, last_error, attempts from outbox where message_id = 'o-unroutable'",
    );
    expect(rows[0]!.published_at).toBeNull();
    expect(rows[0]!.last_error).toMatch(/^unroutable/);
    expect(rows[0]!.attempts).toBeGreaterThan(0);
    expect(await registry.getSingleMetricAsString("outbox_backlog")).toMatch(/outbox_backlog 1$/m);
    await db.query("delete from outbox");
  });

  it("polls an idle outbox less and less often, and still publishes a row committed in this process at once", async () => {
    let rounds = 0; // the relay's one statement a round, counted on the real database
    const counting = new Proxy(db, {
      get: (target, key) =>
        key === "query"
          ? (sql: string, params?: readonly unknown[]) => {
              if (sql.includes("with marked as")) rounds++;
              return target.query(sql, params);
            }
          : Reflect.get(target, key),
    });
    const relay = startOutboxRelay({ db: counting, publisher, logger, intervalMs: 20, maxIdleIntervalMs: 5_000, registry: new Registry() });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // Every 20 ms would be ~75 rounds; doubling pauses (20, 40, 80, … ms) make ~7.
      expect(rounds).toBeGreaterThanOrEqual(4);
      expect(rounds).toBeLessThan(15);
      const committedAt = Date.now();
      await db.transaction((tx) =>
        enqueueOutbox(tx, {
          schema: SendNotificationCommandSchema,
          message: command("idle-wake"),
          messageId: "idle-wake",
          routingKey: topology.routingKey,
        }),
      );
      await waitFor(async () => {
        const { rows } = await db.query("select 1 from outbox where message_id = 'idle-wake' and published_at is not null");
        return rows.length > 0 ? rows : undefined;
      });
      // Woken by the commit, not found by a poll: the relay's pause had grown to over a second.
      expect(Date.now() - committedAt).toBeLessThan(1_000);
    } finally {
      await relay.stop();
    }
    expect(await drainMainQueue()).toEqual(["idle-wake"]);
    await db.query("delete from outbox");
  });

  it("drains a backlog of full rounds with the next round claimed and published while the last one's confirms are out, in id order, each row once", async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `b-${String(i).padStart(2, "0")}`);
    for (const id of ids) {
      await db.transaction((tx) =>
        enqueueOutbox(tx, { schema: SendNotificationCommandSchema, message: command(id), messageId: id, routingKey: topology.routingKey }),
      );
    }
    // The broker's confirms held back until the test lets them through (the messages themselves go out at once).
    let release!: () => void;
    const confirmsHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    let published = 0;
    const slowConfirms: Publisher = {
      ...publisher,
      isReady: () => publisher.isReady(),
      publish: (message) => {
        published++;
        const confirmed = publisher.publish(message);
        return confirmsHeld.then(() => confirmed);
      },
    };
    const relay = startOutboxRelay({ db, publisher: slowConfirms, logger, intervalMs: 60_000, batchSize: 5 });
    // No confirm has come back, yet the second round is claimed and published: the rounds overlap.
    await waitFor(() => (published === 10 ? true : undefined));
    const { rows: claimed } = await db.query<{ n: number }>("select count(*)::int as n from outbox where claimed_until is not null");
    expect(claimed[0]!.n).toBe(10);
    release();
    // With the poll a minute away, the full rounds chain by themselves until the short last one.
    await waitFor(async () => ((await relay.backlog()).count === 0 ? true : undefined));
    await relay.stop();
    expect(published).toBe(12);
    expect(await drainMainQueue()).toEqual(ids);
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from outbox where published_at is not null and claimed_until is null and attempts = 1",
    );
    expect(rows[0]!.n).toBe(12);
    await db.query("delete from outbox");
  });

  it("keeps rows pending and never blocks enqueueing while the broker is unreachable, exposing backlog and age", async () => {
    const down = connectMessaging({
      url: "amqp://guest:guest@127.0.0.1:1",
      connectionName: `${scope.prefix}down`,
      logger,
      declare: (ch) => declareTopology(ch, topology),
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    const downPublisher = createPublisher(down, { exchange: topology.exchange, logger, channelWaitMs: 100 });
    const registry = new Registry();
    const relay = startOutboxRelay({ db, publisher: downPublisher, logger, intervalMs: 20, registry });
    for (let i = 0; i < 20; i += 1) {
      await db.transaction((tx) =>
        enqueueOutbox(tx, {
          schema: SendNotificationCommandSchema,
          message: command(`down-${i}`),
          messageId: `down-${i}`,
          routingKey: topology.routingKey,
        }),
      );
    }
    // Each enqueue committed although no broker answers (one that waited for it would hang the test);
    // the relay keeps them all and reports their age once it passes a second.
    const backlog = await waitFor(async () => {
      const now = await relay.backlog();
      return now.oldestAgeSeconds >= 1 ? now : undefined;
    });
    expect(backlog.count).toBe(20);
    expect(backlog.oldestAgeSeconds).toBeGreaterThanOrEqual(1);
    expect(await registry.getSingleMetricAsString("outbox_backlog")).toMatch(/outbox_backlog 20$/m);
    await relay.stop();
    await downPublisher.close();
    await down.close();

    // the same rows go out once a relay with a live broker runs
    const live = startOutboxRelay({ db, publisher, logger, intervalMs: 20, registry: new Registry() });
    await waitFor(async () => ((await live.backlog()).count === 0 ? true : undefined));
    await live.stop();
    expect((await drainMainQueue()).length).toBe(20);
  });
});
