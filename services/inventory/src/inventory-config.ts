import { fileURLToPath } from "node:url";
import { envInteger } from "@shop/platform";

/** The inventory's own settings, beside the platform's ServiceConfig. */
export interface InventorySettings {
  databaseUrl: string | undefined;
  dataDir: string;
  /** How long a reservation holds when the caller does not say (INVENTORY_RESERVATION_TTL_MS). */
  reservationTtlMs: number;
  /** How often overdue reservations are expired (INVENTORY_EXPIRY_SWEEP_MS). */
  expirySweepMs: number;
}

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Reads the inventory settings; a malformed value stops start-up with its name. */
export function loadInventorySettings(env: NodeJS.ProcessEnv = process.env): InventorySettings {
  return {
    databaseUrl: env["INVENTORY_DATABASE_URL"] || env["DATABASE_URL"] || undefined,
    dataDir: env["INVENTORY_DATA_DIR"] ?? `${repoRoot}.data/inventory`,
    reservationTtlMs: envInteger(env, "INVENTORY_RESERVATION_TTL_MS", 15 * 60_000, { min: 1 }),
    expirySweepMs: envInteger(env, "INVENTORY_EXPIRY_SWEEP_MS", 5_000, { min: 1 }),
  };
}
