#!/usr/bin/env node
import { randomBytes } from "node:crypto";
// Messaging throughput: commands/s through the whole notification pipeline
//   outbox row (PGlite in memory, then PostgreSQL) -> relay (confirms + mandatory) -> RabbitMQ quorum queue
//   -> consumer (decode, dedupe insert + log-less provider, commit) -> ack
// beside a bare amqplib baseline that publishes the same bytes with confirms to a quorum queue
// and consumes them with manual acks. Not a test: prints a table.
//   node bench/messaging/run.mjs            (after `npx tsc -b services/notification`)
//   BENCH_N=20000 BENCH_PREFETCH=64 node bench/messaging/run.mjs
//   BENCH_MESSAGING_DB=pglite,pglite-disk,postgres (default all three, one run: same broker, baseline
//   first; pglite = in memory, pglite-disk = a data directory on disk, as `npm start` runs it)
// Every consumer, the baseline's too, runs in a worker thread of its own (consume-side.mjs): in the
// mesh the relay and the consumer are two processes, each with its own database and event loop.
// With postgres among the engines, the pipeline's floor runs last: the same rows, statements and
// messages with bare pg and amqplib (BENCH_MESSAGING_FLOOR=0 leaves it out).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { create, toBinary } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { notificationTopology } from "@shop/notification/config";
import { initTracing } from "@shop/platform";
import {
  connectMessaging,
  createPublisher,
  declareTopology,
  enqueueOutbox,
  OUTBOX_TABLE_SQL,
  startOutboxRelay,
} from "@shop/platform/messaging";
import { createTestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import amqp from "amqplib";
import pg from "pg";
import { pino } from "pino";
import { Registry } from "prom-client";
import { applyMigrations } from "../src/migrations.mjs";
import { engineDatabase } from "./engine-database.mjs";

const N = Number(process.env.BENCH_N ?? 5000);
const PREFETCH = Number(process.env.BENCH_PREFETCH ?? 64);
const BATCH = Number(process.env.BENCH_BATCH ?? 200);
const ENGINES = (process.env.BENCH_MESSAGING_DB ?? "pglite,pglite-disk,postgres").split(",").map((e) => e.trim().toLowerCase());
const LOG_LEVEL = process.env.LOG_LEVEL ?? "warn";
const logger = pino({ level: LOG_LEVEL });

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

function outboxMigrations() {
  const dir = mkdtempSync(join(tmpdir(), "bench-outbox-"));
  writeFileSync(join(dir, "001_outbox.sql"), OUTBOX_TABLE_SQL);
  return dir;
}

/** Starts consume-side.mjs in a worker thread; resolves once it consumes. */
async function startConsumeSide(data) {
  const worker = new Worker(new URL("./consume-side.mjs", import.meta.url), {
    workerData: { n: N, prefetch: PREFETCH, logLevel: LOG_LEVEL, ...data },
  });
  const failed = new Promise((_, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`consume side exited (${code}) before it was done`)));
  });
  const signal = (key) => Promise.race([new Promise((resolve) => worker.on("message", (m) => m[key] && resolve())), failed]);
  const done = signal("done");
  const closed = signal("closed");
  done.catch(() => {});
  closed.catch(() => {});
  await signal("ready");
  return {
    done,
    async close() {
      worker.postMessage("stop");
      await closed;
      await worker.terminate();
    },
  };
}

async function baseline(scope) {
  const queue = `${scope.prefix}baseline`;
  const conn = await amqp.connect(scope.url);
  const pub = await conn.createConfirmChannel();
  await pub.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  const consumer = await startConsumeSide({ mode: "baseline", url: scope.url, queue });
  const body = Buffer.from(toBinary(SendNotificationCommandSchema, command("baseline")));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
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
  await consumer.done;
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await consumer.close();
  await conn.close();
  return {
    cpuMicrosPerMessage: (cpu.user + cpu.system) / N,
    publishPerSec: N / ((published - t0) / 1000),
    endToEndPerSec: N / ((t1 - t0) / 1000),
    seconds: (t1 - t0) / 1000,
  };
}

/**
 * The pipeline's floor on PostgreSQL, with neither platform nor notification code: N outbox rows
 * enqueued one statement each (timed apart), then the relay's loop — one statement that marks the
 * last round's confirmed rows published and claims the next BATCH (as the platform's relay does),
 * publish them with confirms, repeat — against the floor consumer (consume-side.mjs, mode floor):
 * a prefetch window's deliveries in one INSERT, one ack with `multiple`.
 */
async function floor(scope) {
  const queue = `${scope.prefix}floor`;
  const outboxDatabase = await createTestDatabase("bench_msg_floor_outbox");
  const deliveriesDatabase = await createTestDatabase("bench_msg_floor_notify");
  const pool = new pg.Pool({ connectionString: outboxDatabase.url, max: 2 });
  const conn = await amqp.connect(scope.url);
  try {
    await pool.query(OUTBOX_TABLE_SQL);
    await applyMigrations(deliveriesDatabase.url, new URL("../../services/notification/migrations", import.meta.url).pathname);
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    const consumer = await startConsumeSide({ mode: "floor", url: scope.url, queue, databaseUrl: deliveriesDatabase.url });
    const e0 = performance.now();
    for (let i = 0; i < N; i++) {
      await pool.query({
        name: "floor_enqueue",
        text: "insert into outbox (message_id, message_type, routing_key, payload) values ($1, $2, $3, $4)",
        values: [
          `f-${i}`,
          SendNotificationCommandSchema.typeName,
          queue,
          Buffer.from(toBinary(SendNotificationCommandSchema, command(`f-${i}`))),
        ],
      });
    }
    const enqueuePerSec = N / ((performance.now() - e0) / 1000);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let marked = [];
    for (;;) {
      const { rows } = await pool.query({
        name: "floor_mark_and_claim",
        text: `with marked as (update outbox set published_at = now(), claimed_until = null where id = any($2::bigint[])),
               next as (select id from outbox where published_at is null and (claimed_until is null or claimed_until < now())
                        and id <> all($2::bigint[]) order by id limit $1 for update skip locked)
               update outbox set claimed_until = now() + interval '30 seconds' from next where outbox.id = next.id
               returning outbox.id, message_id, message_type, payload`,
        values: [BATCH, marked],
      });
      if (rows.length === 0) break;
      for (const row of rows) {
        pub.publish("", queue, row.payload, { type: row.message_type, messageId: row.message_id, persistent: true, mandatory: true });
      }
      await pub.waitForConfirms();
      marked = rows.map((row) => row.id);
    }
    const relayPerSec = N / ((performance.now() - t0) / 1000);
    await consumer.done;
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    await consumer.close();
    return {
      cpuMicrosPerCommand: (cpu.user + cpu.system) / N,
      enqueuePerSec,
      relayPerSec,
      endToEndPerSec: N / ((t1 - t0) / 1000),
      seconds: (t1 - t0) / 1000,
    };
  } finally {
    await conn.close().catch(() => {});
    await pool.end();
    await outboxDatabase.drop().catch(() => {});
    await deliveriesDatabase.drop().catch(() => {});
  }
}

async function pipeline(scope, engine) {
  const topologyPrefix = `${scope.prefix}${engine}.`;
  const topology = notificationTopology(topologyPrefix);
  const ordersDb = await engineDatabase(engine, outboxMigrations(), "bench_msg_orders");
  const orders = ordersDb.db;
  const connection = connectMessaging({
    url: scope.url,
    connectionName: scope.connectionName,
    logger,
    declare: (channel) => declareTopology(channel, topology),
  });
  await connection.waitForConnect(10_000);
  const publisher = createPublisher(connection, { exchange: topology.exchange, logger });
  const consumer = await startConsumeSide({
    mode: "pipeline",
    url: scope.url,
    connectionName: scope.connectionName,
    engine,
    topologyPrefix,
  });

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

  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const relay = startOutboxRelay({ db: orders, publisher, logger, intervalMs: 5, batchSize: BATCH, registry: new Registry() });
  let relayedAt;
  let consumed = false;
  void consumer.done.then(() => {
    consumed = true;
  });
  while (!consumed) {
    if (relayedAt === undefined) {
      // Whether any row is pending, not how many: a count every 10 ms walks the pending index (and the
      // entries of rows marked since) each time — PostgreSQL CPU taken from the run it measures.
      const { rows: pending } = await orders.query("select exists (select 1 from outbox where published_at is null) as pending");
      if (!pending[0].pending) relayedAt = performance.now();
    }
    await Promise.race([consumer.done, new Promise((r) => setTimeout(r, 10))]);
  }
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await relay.stop();
  await consumer.close();
  await publisher.close();
  await connection.close();
  await ordersDb.dispose();
  return {
    cpuMicrosPerCommand: (cpu.user + cpu.system) / N,
    enqueuePerSec,
    relayPerSec: N / (((relayedAt ?? performance.now()) - t0) / 1000),
    endToEndPerSec: N / ((t1 - t0) / 1000),
    seconds: (t1 - t0) / 1000,
  };
}

// Tracing as the services run it (their main calls initTracing first): W3C propagation, so every
// outbox row and message carries its creation context, and non-recording spans (no exporter set).
// The bare baseline and the floor use no OpenTelemetry.
initTracing("bench-messaging");
const scope = rabbitTestScope(`bench-${randomBytes(2).toString("hex")}`);
try {
  const base = await baseline(scope);
  const pipes = [];
  for (const engine of ENGINES) pipes.push([engine, await pipeline(scope, engine)]);
  const floors = ENGINES.includes("postgres") && process.env.BENCH_MESSAGING_FLOOR !== "0" ? [["postgres", await floor(scope)]] : [];
  const fmt = (n) => Math.round(n).toLocaleString("en-US").padStart(9);
  console.log(
    `messaging throughput, N=${N}, prefetch=${PREFETCH}, publish window=${BATCH} (quorum queues, persistent, confirms; consumers in a worker thread)`,
  );
  console.log(`  bare amqplib  publish+confirm       ${fmt(base.publishPerSec)} msg/s`);
  console.log(
    `  bare amqplib  publish -> consume+ack ${fmt(base.endToEndPerSec)} msg/s   (${base.seconds.toFixed(2)} s, ${Math.round(base.cpuMicrosPerMessage)} µs CPU per message in this process, both threads)`,
  );
  for (const [engine, pipe] of pipes) {
    // PGlite's rows keep their old names (bench/src/messaging.mjs pairs them); PostgreSQL's say so.
    const on = engine === "pglite" ? "" : `${engine}: `;
    console.log(`  pipeline      ${on}outbox enqueue (tx)    ${fmt(pipe.enqueuePerSec)} cmd/s`);
    console.log(`  pipeline      ${on}outbox -> relay -> broker ack (rows marked) ${fmt(pipe.relayPerSec)} cmd/s`);
    console.log(
      `  pipeline      ${on}outbox -> relay -> broker -> consumer -> dedupe+commit -> ack ${fmt(pipe.endToEndPerSec)} cmd/s   (${pipe.seconds.toFixed(2)} s, ${Math.round(pipe.cpuMicrosPerCommand)} µs CPU per command in this process, both threads, ${engine})`,
    );
  }
  for (const [engine, pipe] of floors) {
    console.log(`  floor         ${engine}: outbox enqueue (one statement) ${fmt(pipe.enqueuePerSec)} cmd/s`);
    console.log(`  floor         ${engine}: outbox -> relay -> broker ack (rows marked) ${fmt(pipe.relayPerSec)} cmd/s`);
    console.log(
      `  floor         ${engine}: outbox -> relay -> broker -> consumer -> dedupe+commit -> ack ${fmt(pipe.endToEndPerSec)} cmd/s   (${pipe.seconds.toFixed(2)} s, ${Math.round(pipe.cpuMicrosPerCommand)} µs CPU per command in this process, both threads, bare pg + amqplib)`,
    );
  }
} finally {
  await scope.cleanup();
}
