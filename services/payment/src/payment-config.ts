import { fileURLToPath } from "node:url";
import { loadServiceConfig, type ServiceConfig } from "@shop/platform";
import { type DatabaseConfig, loadDatabaseConfig } from "@shop/platform/database";

/** Everything the payment service reads from the environment, once, at start-up. */
export interface PaymentConfig {
  /**
   * PAYMENT_PORT (50053), PAYMENT_ADMIN_PORT (9053), the mesh certificate in PAYMENT_TLS_DIR / `.certs/payment`,
   * and the platform's settings.
   */
  service: ServiceConfig;
  /** PAYMENT_DATABASE_URL, DATABASE_URL (database `payment`), or PGlite in PAYMENT_DATA_DIR / `.data/payment`. */
  database: DatabaseConfig;
}

const paths = {
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
  dataRoot: fileURLToPath(new URL("../../../.data", import.meta.url)),
  certRoot: fileURLToPath(new URL("../../../.certs", import.meta.url)),
};

/** Reads the payment service's config; a malformed value stops start-up with a message naming it. */
export function loadPaymentConfig(env: NodeJS.ProcessEnv = process.env): PaymentConfig {
  return {
    service: loadServiceConfig("payment", { port: 50053, adminPort: 9053, certRoot: paths.certRoot }, env),
    database: loadDatabaseConfig("payment", paths, env),
  };
}
