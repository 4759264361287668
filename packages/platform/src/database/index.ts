import type { Database, DatabaseConfig } from "./database.js";
import { migrate } from "./migrations.js";
import { openPglite } from "./pglite.js";
import { openPostgres } from "./postgres.js";

export type { Database, DatabaseConfig, Queryable, QueryResult } from "./database.js";
export { migrate, migrationFiles, type MigrationTarget } from "./migrations.js";

/**
 * Opens a service's own database — PostgreSQL when `config.url` is set, embedded PGlite
 * otherwise — and brings its schema up to date from `config.migrationsDir`.
 */
export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  const db = config.url ? await openPostgres(config.url) : await openPglite(config.dataDir);
  try {
    await migrate(db, config.migrationsDir);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
