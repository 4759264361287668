import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { createLogger, initTracing, loadServiceConfig, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { connectMessaging, loadMessagingConfig, registerQueueMetrics } from "@shop/platform/messaging";
import { logChannelProvider } from "./channel-provider.js";
import { startNotificationConsumer } from "./consumer.js";
import { createNotificationService } from "./notification-service.js";
import { createNotificationStore } from "./store.js";

const config = loadServiceConfig("notification", process.env);
const messaging = loadMessagingConfig(process.env);
initTracing(config.name); // before the consumer starts, so AMQP trace context is extracted from the first message
const logger = createLogger(config.name, config.logLevel);

const db = await openDatabase({
  url: process.env.NOTIFICATION_DATABASE_URL || process.env.DATABASE_URL || undefined,
  // NOTIFICATION_DATA_DIR="" keeps the embedded database in memory (tests)
  dataDir: (process.env.NOTIFICATION_DATA_DIR ?? ".data/notification") || undefined,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
});
const store = createNotificationStore(db);
const amqp = connectMessaging({ url: messaging.url, connectionName: `notification@${hostname()}:${process.pid}`, logger, topology: messaging.topology });
registerQueueMetrics(amqp, messaging.topology); // main, retry and DLQ depths on /metrics
const consumer = startNotificationConsumer({ connection: amqp, topology: messaging.topology, store, provider: logChannelProvider(logger), logger, prefetch: messaging.prefetch });

const server = await serve(config, [service(NotificationService, createNotificationService({ store }))], {
  logger,
  readiness: {
    rabbitmq: async () => amqp.isConnected() && consumer.isConsuming(),
    database: () => db.ping(),
  },
});
server.onShutdown(async () => {
  await consumer.close(); // stop taking deliveries, finish those in flight (they ack after commit)
  await amqp.close();
  await db.close();
});
