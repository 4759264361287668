import { hostname } from "node:os";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { createLogger, initTracing, installProcessHandlers, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { connectMessaging, declareTopology, registerQueueMetrics } from "@shop/platform/messaging";
import { notificationAccess } from "./access.js";
import { logChannelProvider } from "./channel-provider.js";
import { startNotificationConsumer, startOrderEventConsumer } from "./consumer.js";
import { loadNotificationConfig } from "./notification-config.js";
import { createNotificationService } from "./notification-service.js";
import { createNotificationStore } from "./store.js";

const config = loadNotificationConfig();
initTracing(config.service.name); // before the consumer starts, so AMQP trace context is extracted from the first message
const logger = createLogger(config.service.name, config.service.logLevel);
installProcessHandlers(logger);

const db = await openDatabase(config.database, logger);
const store = createNotificationStore(db);
const { topology, eventsTopology } = config;
const amqp = connectMessaging({
  url: config.messaging.url,
  connectionName: `notification@${hostname()}:${process.pid}`,
  logger,
  declare: async (channel) => {
    await declareTopology(channel, topology);
    await declareTopology(channel, eventsTopology);
  },
});
registerQueueMetrics(amqp, [topology, eventsTopology]); // main, retry and DLQ depths on /metrics
const consumer = startNotificationConsumer({
  connection: amqp,
  topology,
  store,
  provider: logChannelProvider(logger),
  logger,
  prefetch: config.prefetch,
});
const events = startOrderEventConsumer({
  connection: amqp,
  topology: eventsTopology,
  store,
  provider: logChannelProvider(logger),
  logger,
  prefetch: config.prefetch,
});

const server = await serve(config.service, [service(NotificationService, createNotificationService({ store }), notificationAccess)], {
  logger,
  readiness: {
    rabbitmq: async () => amqp.isConnected() && consumer.isConsuming() && events.isConsuming(),
    database: () => db.ping(),
  },
});
server.onShutdown(async () => {
  await Promise.all([consumer.close(), events.close()]); // stop taking deliveries, finish those in flight (they ack after commit)
  await amqp.close();
  await db.close();
});
