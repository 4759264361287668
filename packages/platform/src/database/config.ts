import { join } from "node:path";
import { ConfigError, envPrefix } from "../env.js";
import type { DatabaseConfig } from "./database.js";

/** Where a service keeps what is not configuration: its migrations, and the root of embedded data. */
export interface DatabasePaths {
  /** The service's folder of `NNN_name.sql` files. */
  migrationsDir: string;
  /** Default parent of embedded data directories (the service's own is `<dataRoot>/<service>`). */
  dataRoot: string;
}

/**
 * Where a service's database is, read the same way for every service:
 * 1. `<SERVICE>_DATABASE_URL` — PostgreSQL, exactly this database;
 * 2. `DATABASE_URL` — PostgreSQL on that server, in the database named after the service
 *    (`billing`, `read-model` as `read_model`, …), so services never share one by accident;
 * 3. otherwise embedded PGlite in `<SERVICE>_DATA_DIR` (`""` = in memory), else
 *    `<DATA_DIR or paths.dataRoot>/<service>`.
 * Throws {@link ConfigError} naming a variable that is not a postgres URL.
 */
export function loadDatabaseConfig(service: string, paths: DatabasePaths, env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const prefix = envPrefix(service);
  const own = env[`${prefix}_DATABASE_URL`];
  if (own) return { url: postgresUrl(`${prefix}_DATABASE_URL`, own).toString(), migrationsDir: paths.migrationsDir };
  const shared = env.DATABASE_URL;
  if (shared) {
    const url = postgresUrl("DATABASE_URL", shared);
    url.pathname = `/${service.replace(/-/g, "_")}`;
    return { url: url.toString(), migrationsDir: paths.migrationsDir };
  }
  const dataDir = env[`${prefix}_DATA_DIR`] ?? join(env.DATA_DIR || paths.dataRoot, service);
  return { dataDir: dataDir === "" ? undefined : dataDir, migrationsDir: paths.migrationsDir };
}

/** Where a database config points, for logs: the URL without its password, or the PGlite directory. */
export function describeDatabase(config: DatabaseConfig): string {
  if (config.url) {
    const url = new URL(config.url);
    if (url.password) url.password = "***";
    return url.toString();
  }
  return config.dataDir ? `embedded PGlite in ${config.dataDir}` : "embedded PGlite in memory";
}

function postgresUrl(key: string, raw: string): URL {
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw new ConfigError(`${key} must be a postgres:// URL, got "${raw.replace(/\/\/[^@/]*@/, "//***@")}"`);
  }
  return url;
}
