import { fileURLToPath } from "node:url";
import { envInteger, loadServiceConfig, type ServiceConfig } from "@shop/platform";
import { type DatabaseConfig, loadDatabaseConfig } from "@shop/platform/database";

/** Everything the inventory service reads from the environment, once, at start-up. */
export interface InventoryConfig {
  /**
   * INVENTORY_PORT (50052), INVENTORY_ADMIN_PORT (9052), the mesh certificate in INVENTORY_TLS_DIR / `.certs/inventory`,
   * and the platform's settings.
   */
  service: ServiceConfig;
  /** INVENTORY_DATABASE_URL, DATABASE_URL (database `inventory`), or PGlite in INVENTORY_DATA_DIR / `.data/inventory`. */
  database: DatabaseConfig;
  /** How long a reservation holds when the caller does not say (INVENTORY_RESERVATION_TTL_MS). */
  reservationTtlMs: number;
  /** How often overdue reservations are expired (INVENTORY_EXPIRY_SWEEP_MS). */
  expirySweepMs: number;
}

const paths = {
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  dataRoot: fileURLToPath(new URL("../../../.data", import.meta.url)),
  certRoot: fileURLToPath(new URL("../../../.certs", import.meta.url)),
};

/** Reads the inventory's config; a malformed value stops start-up with a message naming it. */
export function loadInventoryConfig(env: NodeJS.ProcessEnv = process.env): InventoryConfig {
  return {
    service: loadServiceConfig("inventory", { port: 50052, adminPort: 9052, certRoot: paths.certRoot }, env),
    database: loadDatabaseConfig("inventory", paths, env),
    reservationTtlMs: envInteger(env, "INVENTORY_RESERVATION_TTL_MS", 15 * 60_000, { min: 1 }),
    expirySweepMs: envInteger(env, "INVENTORY_EXPIRY_SWEEP_MS", 5_000, { min: 1 }),
  };
}
