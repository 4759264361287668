// The consuming side of a messaging run, in a worker thread of its own: in the mesh the relay (in
// the producing service) and the consumer (in notification) are separate processes, each with its
// own database and event loop, so they must not share one thread here either. The bare baseline's
// consumer runs the same way, so both sides of every ratio have the same shape.
//
// workerData: { mode: "baseline" | "pipeline" | "floor", url, prefix, connectionName, n, prefetch,
//               queue (baseline, floor), engine + topologyPrefix (pipeline), databaseUrl (floor), logLevel }
// Messages to the parent: { ready: true } once consuming, { done: true } once n commands are
// consumed (pipeline: sent and committed), { closed: true } after clean-up.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import { fromBinary } from "@bufbuild/protobuf";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { notificationTopology } from "@shop/notification/config";
import { startNotificationConsumer } from "@shop/notification/consumer";
import { createNotificationStore } from "@shop/notification/store";
import { initTracing } from "@shop/platform";
import { connectMessaging, declareTopology } from "@shop/platform/messaging";
import amqp from "amqplib";
import pg from "pg";
import { pino } from "pino";
import { consumeInWindows, insertDeliveries } from "../src/floor-consumer.mjs";
import { engineDatabase } from "./engine-database.mjs";

const { mode, url, n, prefetch } = workerData;
const logger = pino({ level: workerData.logLevel ?? "warn" });
let stopRequested = false;
const stopped = new Promise((resolve) =>
  parentPort.on("message", (message) => {
    if (message !== "stop") return;
    stopRequested = true;
    resolve();
  }),
);

if (mode === "baseline") {
  const conn = await amqp.connect(url);
  const sub = await conn.createChannel();
  await sub.assertQueue(workerData.queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  await sub.prefetch(prefetch);
  let acked = 0;
  await sub.consume(
    workerData.queue,
    (msg) => {
      sub.ack(msg);
      if (++acked === n) parentPort.postMessage({ done: true });
    },
    { noAck: false },
  );
  parentPort.postMessage({ ready: true });
  await stopped;
  await conn.close();
} else if (mode === "floor") {
  // The consumer's floor: bare amqplib and pg. A prefetch window's commands decoded, their deliveries
  // inserted by one statement (a repeated command id is a no-op, as the service dedupes), then one
  // ack with `multiple`; windows written one after another, so an ack never covers an uncommitted row.
  const pool = new pg.Pool({ connectionString: workerData.databaseUrl, max: 2 });
  const conn = await amqp.connect(url);
  const sub = await conn.createChannel();
  await sub.assertQueue(workerData.queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  await sub.prefetch(prefetch);
  let written = 0;
  await consumeInWindows(sub, workerData.queue, {
    decode: (message) => fromBinary(SendNotificationCommandSchema, message.content),
    write: async (commands) => {
      await insertDeliveries(
        (text, values) => pool.query({ name: "floor_deliveries", text, values }),
        commands.map((c) => ({
          n: `ntf_${randomUUID()}`,
          c: c.commandId,
          ch: "EMAIL",
          r: c.recipient,
          t: c.template,
          p: c.parameters,
          b: `Your order ${c.parameters.order_id} is confirmed: ${c.parameters.total}`,
          o: c.orderId,
          u: c.userId,
        })),
      );
      written += commands.length;
      if (written === n) parentPort.postMessage({ done: true });
    },
    onError: (error) => logger.error({ err: error }, "floor: deliveries not written"),
  });
  parentPort.postMessage({ ready: true });
  await stopped;
  await conn.close();
  await pool.end();
} else {
  // As notification's main does first: the consumer extracts each message's trace context and makes its spans.
  initTracing("bench-messaging-consumer");
  // Counts its sends: the committed count is read from the database only once every command was sent.
  let sends = 0;
  const silentProvider = {
    name: "bench",
    async send() {
      sends++;
    },
  };
  const topology = notificationTopology(workerData.topologyPrefix);
  const notificationsDb = await engineDatabase(
    workerData.engine,
    fileURLToPath(new URL("../../services/notification/migrations", import.meta.url)),
    "bench_msg_notify",
  );
  const notifications = notificationsDb.db;
  const connection = connectMessaging({
    url,
    connectionName: workerData.connectionName,
    logger,
    declare: (channel) => declareTopology(channel, topology),
  });
  await connection.waitForConnect(10_000);
  const consumer = startNotificationConsumer({
    connection,
    topology,
    store: createNotificationStore(notifications),
    provider: silentProvider,
    logger,
    prefetch,
  });
  parentPort.postMessage({ ready: true });
  for (;;) {
    if (stopRequested) break;
    if (sends >= n) {
      const { rows } = await notifications.query("select count(*)::int as n from deliveries");
      if (rows[0].n >= n) {
        parentPort.postMessage({ done: true });
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await stopped;
  await consumer.close();
  await connection.close();
  await notificationsDb.dispose();
}
parentPort.postMessage({ closed: true });
