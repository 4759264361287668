import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Queryable } from "./database.js";

const MIGRATION_FILE = /^(\d+)_[\w-]+\.sql$/;
// Any constant works: it only has to be the same in every process migrating this database.
const MIGRATION_LOCK = 727_001;

/** What the migration runner needs of an engine: statements, scripts, and one transaction. */
export interface MigrationTarget {
  readonly kind: "pglite" | "postgres";
  /** Runs `work` in one transaction; `exec` runs a multi-statement script inside it. */
  migrationTransaction<T>(work: (tx: Queryable & { exec(script: string): Promise<void> }) => Promise<T>): Promise<T>;
}

/** The `NNN_name.sql` files of `dir`, in numeric order; a duplicate number is an error. */
export function migrationFiles(dir: string): string[] {
  const files = readdirSync(dir)
    .filter((name) => MIGRATION_FILE.test(name))
    .sort((a, b) => Number(MIGRATION_FILE.exec(a)?.[1]) - Number(MIGRATION_FILE.exec(b)?.[1]));
  const numbers = files.map((name) => Number(MIGRATION_FILE.exec(name)?.[1]));
  const duplicate = numbers.find((n, i) => numbers.indexOf(n) !== i);
  if (duplicate !== undefined) throw new Error(`two migrations in ${dir} share the number ${duplicate}`);
  return files;
}

/**
 * Applies the `NNN_name.sql` files in `dir` that this database has not seen, in order, in one
 * transaction together with their rows in `schema_migrations` (so a failing file applies
 * nothing). On PostgreSQL a transaction-scoped advisory lock makes replicas starting together
 * take turns; the second finds the work done. Returns the names applied.
 */
export async function migrate(db: MigrationTarget, dir: string): Promise<string[]> {
  const files = migrationFiles(dir);
  return db.migrationTransaction(async (tx) => {
    if (db.kind === "postgres") await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ name: string }>("SELECT name FROM schema_migrations");
    const applied = new Set(rows.map((row) => row.name));
    const pending = files.filter((name) => !applied.has(name));
    for (const name of pending) {
      try {
        await tx.exec(readFileSync(join(dir, name), "utf8"));
      } catch (error) {
        throw new Error(`migration ${name} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      await tx.query("INSERT INTO schema_migrations (name) VALUES ($1)", [name]);
    }
    return pending;
  });
}
