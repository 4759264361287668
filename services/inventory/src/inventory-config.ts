import { fileURLToPath } from "node:url";

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
    reservationTtlMs: positive(env, "INVENTORY_RESERVATION_TTL_MS", 15 * 60_000),
    expirySweepMs: positive(env, "INVENTORY_EXPIRY_SWEEP_MS", 5_000),
  };
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer (milliseconds), got "${raw}"`);
  return value;
}
