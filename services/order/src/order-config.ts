import { fileURLToPath } from "node:url";
import { envInteger, loadServiceConfig, type ServiceConfig } from "@shop/platform";
import { type DatabaseConfig, loadDatabaseConfig } from "@shop/platform/database";
import { loadMessagingConfig, type MessagingConfig } from "@shop/platform/messaging";

/** Everything the order service reads from the environment, once, at start-up. */
export interface OrderConfig {
  /** ORDER_PORT (50051), ORDER_ADMIN_PORT (9051), the mesh certificate in ORDER_TLS_DIR / `.certs/order`, and the platform's settings. */
  service: ServiceConfig;
  /** ORDER_DATABASE_URL, DATABASE_URL (database `order`), or PGlite in ORDER_DATA_DIR / `.data/order`. */
  database: DatabaseConfig;
  /** AMQP_URL, AMQP_PREFIX. */
  messaging: MessagingConfig;
  /** The topic exchange order events are published to and this replica's feed is bound to: EVENTS_EXCHANGE (shop.events), after AMQP_PREFIX. */
  eventsExchange: string;
  inventoryUrl: string;
  paymentUrl: string;
  saga: SagaSettings;
  /** WatchOrder streams one caller may hold open at once on one replica (ORDER_WATCH_STREAMS_PER_USER, default 5). */
  watchStreamsPerUser: number;
}

/** The saga's timing (ORDER_*_MS). */
export interface SagaSettings {
  /** Deadline of each remote call the saga makes. */
  stepTimeoutMs: number;
  /** An order still short of committed stock after this long is compensated and REJECTED. */
  pendingTimeoutMs: number;
  /** How long a driver holds an order before another may take it over. */
  leaseMs: number;
  /** How often the recovery loop looks for unfinished orders. */
  recoveryIntervalMs: number;
  /** Ceiling of the back-off between attempts of a failing step. */
  maxRetryDelayMs: number;
}

const paths = {
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  dataRoot: fileURLToPath(new URL("../../../.data", import.meta.url)),
  certRoot: fileURLToPath(new URL("../../../.certs", import.meta.url)),
};

/** Reads the order service's config; a malformed value stops start-up with a message naming it. */
export function loadOrderConfig(env: NodeJS.ProcessEnv = process.env): OrderConfig {
  return {
    service: loadServiceConfig("order", { port: 50051, adminPort: 9051, certRoot: paths.certRoot }, env),
    database: loadDatabaseConfig("order", paths, env),
    messaging: loadMessagingConfig(env),
    eventsExchange: env.EVENTS_EXCHANGE || "shop.events",
    inventoryUrl: env.INVENTORY_URL || "127.0.0.1:50052",
    paymentUrl: env.PAYMENT_URL || "127.0.0.1:50053",
    saga: {
      stepTimeoutMs: envInteger(env, "ORDER_STEP_TIMEOUT_MS", 3_000, { min: 1 }),
      pendingTimeoutMs: envInteger(env, "ORDER_PENDING_TIMEOUT_MS", 30_000, { min: 1 }),
      leaseMs: envInteger(env, "ORDER_SAGA_LEASE_MS", 15_000, { min: 1 }),
      recoveryIntervalMs: envInteger(env, "ORDER_RECOVERY_INTERVAL_MS", 2_000, { min: 1 }),
      maxRetryDelayMs: envInteger(env, "ORDER_MAX_RETRY_DELAY_MS", 10_000, { min: 1 }),
    },
    watchStreamsPerUser: envInteger(env, "ORDER_WATCH_STREAMS_PER_USER", 5, { min: 1, max: 1_000 }),
  };
}
