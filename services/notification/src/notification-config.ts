import { fileURLToPath } from "node:url";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { loadServiceConfig, type ServiceConfig } from "@shop/platform";
import { type DatabaseConfig, loadDatabaseConfig } from "@shop/platform/database";
import {
  commandTopology,
  loadConsumerConfig,
  loadMessagingConfig,
  type MessagingConfig,
  subscriberTopology,
  type Topology,
} from "@shop/platform/messaging";
import { NOTIFIED_ORDER_EVENTS } from "./order-event-handler.js";

/** The command exchange other services publish SendNotificationCommand to. */
export const NOTIFICATION_EXCHANGE = "shop.notifications";
/** The queue this service consumes; its retry tiers and DLQ are named after it. */
export const NOTIFICATION_QUEUE = "shop.notifications.commands";

/** The topic exchange order events are published to (EVENTS_EXCHANGE overrides it). */
export const EVENTS_EXCHANGE = "shop.events";
/** This service's own queue on the events exchange; its retry tiers and DLQ are named after it. */
export const ORDER_EVENTS_QUEUE = "shop.notifications.order-events";

/** Everything the notification service reads from the environment, once, at start-up. */
export interface NotificationConfig {
  /**
   * NOTIFICATION_PORT (50054), NOTIFICATION_ADMIN_PORT (9054), the mesh certificate in NOTIFICATION_TLS_DIR / `.certs/notification`,
   * and the platform's settings.
   */
  service: ServiceConfig;
  /** NOTIFICATION_DATABASE_URL, DATABASE_URL (database `notification`), or PGlite in NOTIFICATION_DATA_DIR / `.data/notification`. */
  database: DatabaseConfig;
  /** AMQP_URL, AMQP_PREFIX. */
  messaging: MessagingConfig;
  /** The command queue with NOTIFICATION_RETRY_DELAYS_MS as its retry tiers. */
  topology: Topology;
  /** Its queue of order events on EVENTS_EXCHANGE, with the same retry tiers. */
  eventsTopology: Topology;
  /** NOTIFICATION_PREFETCH: unacked commands in flight. */
  prefetch: number;
}

const paths = {
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  dataRoot: fileURLToPath(new URL("../../../.data", import.meta.url)),
  certRoot: fileURLToPath(new URL("../../../.certs", import.meta.url)),
};

/** The notification command queue's topology under `prefix` (AMQP_PREFIX), with its retry tiers. */
export function notificationTopology(prefix: string, retryDelaysMs?: readonly number[]): Topology {
  return commandTopology({
    prefix,
    exchange: NOTIFICATION_EXCHANGE,
    queue: NOTIFICATION_QUEUE,
    routingKey: SendNotificationCommandSchema.typeName,
    ...(retryDelaysMs ? { retryDelaysMs } : {}),
  });
}

/** This service's queue of order events under `prefix`: bound to the events exchange once per event it turns into a notification. */
export function orderEventsTopology(prefix: string, retryDelaysMs?: readonly number[], exchange = EVENTS_EXCHANGE): Topology {
  return subscriberTopology({
    prefix,
    exchange,
    queue: ORDER_EVENTS_QUEUE,
    routingKeys: NOTIFIED_ORDER_EVENTS.map((schema) => schema.typeName),
    ...(retryDelaysMs ? { retryDelaysMs } : {}),
  });
}

/** Reads the notification service's config; a malformed value stops start-up with a message naming it. */
export function loadNotificationConfig(env: NodeJS.ProcessEnv = process.env): NotificationConfig {
  const messaging = loadMessagingConfig(env);
  const consumer = loadConsumerConfig("notification", env);
  return {
    service: loadServiceConfig("notification", { port: 50054, adminPort: 9054, certRoot: paths.certRoot }, env),
    database: loadDatabaseConfig("notification", paths, env),
    messaging,
    topology: notificationTopology(messaging.prefix, consumer.retryDelaysMs),
    eventsTopology: orderEventsTopology(messaging.prefix, consumer.retryDelaysMs, env.EVENTS_EXCHANGE || EVENTS_EXCHANGE),
    prefetch: consumer.prefetch,
  };
}
