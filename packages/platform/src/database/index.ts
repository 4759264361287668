import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { describeDatabase } from "./config.js";
import type { Database, DatabaseConfig } from "./database.js";
import { migrate } from "./migrations.js";

export { type DatabasePaths, describeDatabase, loadDatabaseConfig } from "./config.js";
export type { Database, DatabaseConfig, Queryable, QueryResult } from "./database.js";
export { type MigrationTarget, migrate, migrationFiles } from "./migrations.js";

/**
 * Opens a service's own database — PostgreSQL when `config.url` is set, embedded PGlite
 * otherwise — and brings its schema up to date from `config.migrationsDir`. With a `logger`, it
 * says where and how long it took (a first PGlite start initialises a cluster: tens of seconds).
 */
export async function openDatabase(config: DatabaseConfig, logger?: Logger): Promise<Database> {
  const started = Date.now();
  const where = describeDatabase(config);
  const initialising = !config.url && config.dataDir !== undefined && !existsSync(join(config.dataDir, "PG_VERSION"));
  logger?.info(
    { event: "database.opening", database: where, initialising },
    initialising ? "initialising the embedded database (first start: this takes a while)" : "opening the database",
  );
  // Each engine's driver is loaded only by a service that uses it: PGlite's JavaScript (its
  // Emscripten runtime) is several MiB of heap that a service on PostgreSQL never needs, pg ~0.5 MiB
  // that an embedded one never needs.
  const db = config.url
    ? await (await import("./postgres.js")).openPostgres(config.url)
    : await (await import("./pglite.js")).openPglite(config.dataDir);
  try {
    const applied = await migrate(db, config.migrationsDir);
    logger?.info(
      { event: "database.ready", database: where, migrationsApplied: applied.length, elapsedMs: Date.now() - started },
      "database ready",
    );
  } catch (error) {
    await db.close();
    if ((error as { code?: string }).code === "3D000") {
      throw new Error(
        `${(error as Error).message} on ${where}: create it, or point the service's <SERVICE>_DATABASE_URL at one that exists`,
        { cause: error },
      );
    }
    throw error;
  }
  return db;
}
