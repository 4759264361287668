// The consuming side of a messaging run, in a worker thread of its own: in the mesh the relay (in
// the producing service) and the consumer (in notification) are separate processes, each with its
// own database and event loop, so they must not share one thread here either. The bare baseline's
// consumer runs the same way, so both sides of every ratio have the same shape.
//
// workerData: { mode: "baseline" | "pipeline", url, prefix, connectionName, n, prefetch,
//               queue (baseline), engine + topologyPrefix (pipeline), logLevel }
// Messages to the parent: { ready: true } once consuming, { done: true } once n commands are
// consumed (pipeline: sent and committed), { closed: true } after clean-up.
import { fileURLToPath } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import { notificationTopology } from "@shop/notification/config";
import { startNotificationConsumer } from "@shop/notification/consumer";
import { createNotificationStore } from "@shop/notification/store";
import { connectMessaging, declareTopology } from "@shop/platform/messaging";
import amqp from "amqplib";
import { pino } from "pino";
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
} else {
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
