import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { type Channel, type ChannelModel, connect } from "amqplib";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/database/database.js";
import { openDatabase } from "../src/database/index.js";
import {
  commandTopology,
  enqueueOutbox,
  type MessagingConnection,
  OUTBOX_TABLE_SQL,
  type OutboxRelay,
  type Publisher,
  startOutboxRelay,
} from "../src/messaging/index.js";
import { createTestDatabase, type TestDatabase } from "../src/testing/postgres.js";
import { rabbitTestScope } from "../src/testing/rabbitmq.js";
import { waitFor } from "../src/testing/wait.js";

/**
 * Two relays — as two order replicas run them — on one real PostgreSQL outbox, each with its own
 * database pool and its own broker connection, publishing to one real RabbitMQ queue whose
 * deliveries the test counts.
 */
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-relays");
const topology = commandTopology({
  prefix: scope.prefix,
  exchange: "relays.commands",
  queue: "relays.commands.work",
  routingKey: SendNotificationCommandSchema.typeName,
  retryDelaysMs: [100],
});
const ROWS = 300;
const SENTINEL = "sentinel";

let pg: TestDatabase;
const replicas: Array<{ db: Database; connection: MessagingConnection; publisher: Publisher }> = [];
let raw: ChannelModel;

beforeAll(async () => {
  pg = await createTestDatabase("outbox_relays");
  const migrationsDir = mkdtempSync(join(tmpdir(), "outbox-relays-"));
  writeFileSync(join(migrationsDir, "001_outbox.sql"), OUTBOX_TABLE_SQL);
  for (let i = 0; i < 2; i += 1) {
    const db = await openDatabase({ url: pg.url, migrationsDir });
    replicas.push({ db, ...(await scope.connectTo(topology, logger)) });
  }
  raw = await connect(scope.url);
});

afterAll(async () => {
  for (const { db, connection, publisher } of replicas) {
    await publisher.close();
    await connection.close();
    await db.close();
  }
  await raw?.close();
  await scope.cleanup();
  await pg?.drop();
});

/** Counts every delivery on the main queue by message id; `sentinel` resolves when the sentinel message arrives. */
async function countDeliveries(channel: Channel): Promise<{ counts: Map<string, number>; sentinel: Promise<void> }> {
  const counts = new Map<string, number>();
  let arrived!: () => void;
  const sentinel = new Promise<void>((resolve) => (arrived = resolve));
  await channel.consume(topology.mainQueue, (msg) => {
    if (!msg) return;
    const id = String(msg.properties.messageId);
    channel.ack(msg);
    if (id === SENTINEL) arrived();
    else counts.set(id, (counts.get(id) ?? 0) + 1);
  });
  return { counts, sentinel };
}

const until = (check: () => Promise<boolean>) => waitFor(check, { timeoutMs: 60_000, intervalMs: 50, what: "relays drained the outbox" });

describe("two outbox relays on one PostgreSQL database", () => {
  it("publish each row exactly once: rows are claimed with FOR UPDATE SKIP LOCKED", async () => {
    const [first, second] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    for (let i = 0; i < ROWS; i += 1) {
      const id = `relay-row-${i}`;
      await first.db.transaction((tx) =>
        enqueueOutbox(tx, {
          schema: SendNotificationCommandSchema,
          message: create(SendNotificationCommandSchema, { commandId: id, template: "order_confirmed" }),
          messageId: id,
          routingKey: topology.routingKey,
        }),
      );
    }
    const channel = await raw.createChannel();
    const { counts, sentinel } = await countDeliveries(channel);

    // Both poll at once and often, in small batches: without claims they read the same rows.
    const relays: OutboxRelay[] = [first, second].map(({ db, publisher }) =>
      startOutboxRelay({ db, publisher, logger, intervalMs: 5, batchSize: 10, registry: new Registry() }),
    );
    await until(async () => (await relays[0]!.backlog()).count === 0);
    await Promise.all(relays.map((relay) => relay.stop()));
    // Every row is confirmed (in the queue) before it is marked published: a message sent now
    // queues behind all of them, so its arrival means every relay delivery has arrived.
    const sender = await raw.createConfirmChannel();
    sender.publish(topology.exchange, topology.routingKey, Buffer.from("end"), { messageId: SENTINEL });
    await sender.waitForConfirms();
    await sentinel;
    await channel.close();
    await sender.close();

    const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    expect(duplicates).toEqual([]);
    expect(counts.size).toBe(ROWS);
    const { rows } = await first.db.query<{ published: bigint; claimed: bigint }>(
      "select count(*) filter (where published_at is not null) as published, count(*) filter (where claimed_until is not null) as claimed from outbox",
    );
    expect(rows[0]).toEqual({ published: BigInt(ROWS), claimed: 0n });
  });
});
