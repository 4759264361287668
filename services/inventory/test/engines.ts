import { fileURLToPath } from "node:url";
import type { Database } from "@shop/platform/database";
import { databaseEngines, type EngineDatabase } from "@shop/platform/testing/postgres";

export const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

/** The two engines every inventory store test runs on: embedded PGlite in memory, and a fresh PostgreSQL database. */
export const engines = databaseEngines(migrationsDir, "inventory");
export type { EngineDatabase };

let counter = 0;

/** Adds a product of its own to the catalogue, so a test's stock is not shared with another's. */
export async function addProduct(db: Database, onHand: number, priceMinor = 1000n): Promise<string> {
  const sku = `SKU-T${process.pid}-${Date.now().toString(36)}-${++counter}`;
  await db.query(
    "INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand) VALUES ($1, $2, 'test product', 'EUR', $3, $4)",
    [sku, `Test product ${counter}`, priceMinor.toString(), onHand],
  );
  return sku;
}

/** A reservation id of its own. */
export function reservationId(): string {
  return `res-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}
