#!/usr/bin/env node
import { randomBytes } from "node:crypto";
// Messaging throughput: commands/s through the whole notification pipeline
//   outbox row (PGlite in memory, then PostgreSQL) -> relay (confirms + mandatory) -> RabbitMQ quorum queue
//   -> consumer (decode, dedupe insert + log-less provider, commit) -> ack
// beside a bare amqplib baseline that publishes the same bytes with confirms to a quorum queue
// and consumes them with manual acks. Not a test: prints a table.
//   node bench/messaging/run.mjs            (after `npx tsc -b services/notification`)
//   BENCH_N=20000 BENCH_PREFETCH=64 node bench/messaging/run.mjs
//   BENCH_MESSAGING_DB=pglite,postgres (default both, one run: same broker, baseline first)
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { notificationTopology } from "@shop/notification/config";
import { startNotificationConsumer } from "@shop/notification/consumer";
import { createNotificationStore } from "@shop/notification/store";
import { openDatabase } from "@shop/platform/database";
import {
  connectMessaging,
  createPublisher,
  declareTopology,
  enqueueOutbox,
  OUTBOX_TABLE_SQL,
  startOutboxRelay,
} from "@shop/platform/messaging";
import { databaseEngines } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import amqp from "amqplib";
import { pino } from "pino";
import { Registry } from "prom-client";

const N = Number(process.env.BENCH_N ?? 5000);
const PREFETCH = Number(process.env.BENCH_PREFETCH ?? 64);
const BATCH = Number(process.env.BENCH_BATCH ?? 200);
const ENGINES = (process.env.BENCH_MESSAGING_DB ?? "pglite,postgres").split(",").map((e) => e.trim().toLowerCase());
const logger = pino({ level: process.env.LOG_LEVEL ?? "warn" });
// Counts its sends: the bench asks the database for the committed count only once every command was sent.
let sends = 0;
const silentProvider = {
  name: "bench",
  async send() {
    sends++;
  },
};

const command = (id) =>
  create(SendNotificationCommandSchema, {
    commandId: id,
    channel: NotificationChannel.EMAIL,
    recipient: "ada@example.com",
    template: "order_confirmed",
    parameters: { order_id: `ord_${id}`, total: "19.99 EUR" },
    orderId: `ord_${id}`,
    userId: "user-1",
  });

/** The engine's database (the platform's openDatabase: PGlite in memory, or a fresh PostgreSQL database) with the given migrations. */
async function engineDatabase(engine, migrationsDir, label) {
  if (engine === "pglite") {
    const db = await openDatabase({ migrationsDir });
    return { db, dispose: () => db.close() };
  }
  const postgres = databaseEngines(migrationsDir, label).find((e) => e.engine === "PostgreSQL");
  return postgres.open();
}

function outboxMigrations() {
  const dir = mkdtempSync(join(tmpdir(), "bench-outbox-"));
  writeFileSync(join(dir, "001_outbox.sql"), OUTBOX_TABLE_SQL);
  return dir;
}

async function baseline(scope) {
  const queue = `${scope.prefix}baseline`;
  const conn = await amqp.connect(scope.url);
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  await pub.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  await sub.prefetch(PREFETCH);
  const body = Buffer.from(toBinary(SendNotificationCommandSchema, command("baseline")));
  let acked = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const done = new Promise((resolve) => {
    void sub.consume(
      queue,
      (msg) => {
        sub.ack(msg);
        if (++acked === N) resolve();
      },
      { noAck: false },
    );
  });
  // publish in confirmed windows of BATCH, as the relay does
  for (let i = 0; i < N; i += BATCH) {
    const window = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) {
      window.push(
        new Promise((res, rej) =>
          pub.publish(
            "",
            queue,
            body,
            { type: SendNotificationCommandSchema.typeName, messageId: `b-${j}`, persistent: true, mandatory: true },
            (e) => (e ? rej(e) : res()),
          ),
        ),
      );
    }
    await Promise.all(window);
  }
  const published = performance.now();
  await done;
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await conn.close();
  return {
    cpuMicrosPerMessage: (cpu.user + cpu.system) / N,
    publishPerSec: N / ((published - t0) / 1000),
    endToEndPerSec: N / ((t1 - t0) / 1000),
    seconds: (t1 - t0) / 1000,
  };
}

async function pipeline(scope, engine) {
  const topology = notificationTopology(`${scope.prefix}${engine}.`);
  const ordersDb = await engineDatabase(engine, outboxMigrations(), "bench_msg_orders");
  const notificationsDb = await engineDatabase(
    engine,
    fileURLToPath(new URL("../../services/notification/migrations", import.meta.url)),
    "bench_msg_notify",
  );
  const orders = ordersDb.db;
  const notifications = notificationsDb.db;
  const store = createNotificationStore(notifications);
  const connection = connectMessaging({
    url: scope.url,
    connectionName: scope.connectionName,
    logger,
    declare: (channel) => declareTopology(channel, topology),
  });
  await connection.waitForConnect(10_000);
  const publisher = createPublisher(connection, { exchange: topology.exchange, logger });
  const consumer = startNotificationConsumer({ connection, topology, store, provider: silentProvider, logger, prefetch: PREFETCH });

  const e0 = performance.now();
  for (let i = 0; i < N; i++) {
    await orders.transaction((tx) =>
      enqueueOutbox(tx, {
        schema: SendNotificationCommandSchema,
        message: command(`p-${i}`),
        messageId: `p-${i}`,
        routingKey: topology.routingKey,
      }),
    );
  }
  const enqueuePerSec = N / ((performance.now() - e0) / 1000);

  sends = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const relay = startOutboxRelay({ db: orders, publisher, logger, intervalMs: 5, batchSize: BATCH, registry: new Registry() });
  let relayedAt;
  for (;;) {
    if (relayedAt === undefined) {
      const { rows: pending } = await orders.query("select count(*)::int as n from outbox where published_at is null");
      if (pending[0].n === 0) relayedAt = performance.now();
    }
    if (sends >= N) {
      const { rows } = await notifications.query("select count(*)::int as n from deliveries");
      if (rows[0].n >= N) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await relay.stop();
  await consumer.close();
  await publisher.close();
  await connection.close();
  await ordersDb.dispose();
  await notificationsDb.dispose();
  return {
    cpuMicrosPerCommand: (cpu.user + cpu.system) / N,
    enqueuePerSec,
    relayPerSec: N / (((relayedAt ?? performance.now()) - t0) / 1000),
    endToEndPerSec: N / ((t1 - t0) / 1000),
    seconds: (t1 - t0) / 1000,
  };
}

const scope = rabbitTestScope(`bench-${randomBytes(2).toString("hex")}`);
try {
  const base = await baseline(scope);
  const pipes = [];
  for (const engine of ENGINES) pipes.push([engine, await pipeline(scope, engine)]);
  const fmt = (n) => Math.round(n).toLocaleString("en-US").padStart(9);
  console.log(`messaging throughput, N=${N}, prefetch=${PREFETCH}, publish window=${BATCH} (quorum queues, persistent, confirms)`);
  console.log(`  bare amqplib  publish+confirm       ${fmt(base.publishPerSec)} msg/s`);
  console.log(
    `  bare amqplib  publish -> consume+ack ${fmt(base.endToEndPerSec)} msg/s   (${base.seconds.toFixed(2)} s, ${Math.round(base.cpuMicrosPerMessage)} µs CPU per message in this process)`,
  );
  for (const [engine, pipe] of pipes) {
    // PGlite's rows keep their old names (bench/src/messaging.mjs pairs them); PostgreSQL's say so.
    const on = engine === "pglite" ? "" : `${engine}: `;
    console.log(`  pipeline      ${on}outbox enqueue (tx)    ${fmt(pipe.enqueuePerSec)} cmd/s`);
    console.log(`  pipeline      ${on}outbox -> relay -> broker ack (rows marked) ${fmt(pipe.relayPerSec)} cmd/s`);
    console.log(
      `  pipeline      ${on}outbox -> relay -> broker -> consumer -> dedupe+commit -> ack ${fmt(pipe.endToEndPerSec)} cmd/s   (${pipe.seconds.toFixed(2)} s, ${Math.round(pipe.cpuMicrosPerCommand)} µs CPU per command in this process, ${engine})`,
    );
  }
} finally {
  await scope.cleanup();
}
