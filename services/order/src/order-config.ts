import { fileURLToPath } from "node:url";
import { envInteger } from "@shop/platform";

/** The order service's own settings, beside the platform's ServiceConfig. */
export interface OrderSettings {
  inventoryUrl: string;
  paymentUrl: string;
  databaseUrl: string | undefined;
  dataDir: string;
  stepTimeoutMs: number;
  pendingTimeoutMs: number;
  leaseMs: number;
  recoveryIntervalMs: number;
  maxRetryDelayMs: number;
  watchPollMs: number;
}

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Reads the order settings from the environment; a malformed value stops start-up with its name. */
export function loadOrderSettings(env: NodeJS.ProcessEnv = process.env): OrderSettings {
  return {
    inventoryUrl: env["INVENTORY_URL"] ?? "127.0.0.1:50052",
    paymentUrl: env["PAYMENT_URL"] ?? "127.0.0.1:50053",
    databaseUrl: env["DATABASE_URL"] || undefined,
    dataDir: env["ORDER_DATA_DIR"] ?? `${repoRoot}.data/order`,
    stepTimeoutMs: envInteger(env, "ORDER_STEP_TIMEOUT_MS", 3_000, { min: 1 }),
    pendingTimeoutMs: envInteger(env, "ORDER_PENDING_TIMEOUT_MS", 30_000, { min: 1 }),
    leaseMs: envInteger(env, "ORDER_SAGA_LEASE_MS", 15_000, { min: 1 }),
    recoveryIntervalMs: envInteger(env, "ORDER_RECOVERY_INTERVAL_MS", 2_000, { min: 1 }),
    maxRetryDelayMs: envInteger(env, "ORDER_MAX_RETRY_DELAY_MS", 10_000, { min: 1 }),
    watchPollMs: envInteger(env, "ORDER_WATCH_POLL_MS", 1_000, { min: 1 }),
  };
}
