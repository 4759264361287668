import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "./database.js";

const MIGRATION_FILE = /^(\d+)_[\w-]+\.sql$/;
// Any constant works: it only has to be the same in every process migrating this database.
const MIGRATION_LOCK = 727_001;

/**
 * Applies the `NNN_name.sql` files in `dir` that this database has not seen, in order, each in
 * its own transaction together with its row in `schema_migrations`. On PostgreSQL an advisory
 * lock makes replicas starting together take turns. Returns the names applied.
 */
export async function migrate(db: Database, dir: string): Promise<string[]> {
  const files = readdirSync(dir)
    .filter((name) => MIGRATION_FILE.test(name))
    .sort((a, b) => Number(MIGRATION_FILE.exec(a)?.[1]) - Number(MIGRATION_FILE.exec(b)?.[1]));
  return db.transaction(async (tx) => {
    if (db.kind === "postgres") await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ name: string }>("SELECT name FROM schema_migrations");
    const applied = new Set(rows.map((row) => row.name));
    const pending = files.filter((name) => !applied.has(name));
    for (const name of pending) {
      await execScript(tx, readFileSync(join(dir, name), "utf8"));
      await tx.query("INSERT INTO schema_migrations (name) VALUES ($1)", [name]);
    }
    return pending;
  });
}

/** Runs a multi-statement SQL script: statements split on semicolons that end a line. */
async function execScript(tx: { query: Database["query"] }, script: string): Promise<void> {
  const statements = script
    .split(/;\s*$/m)
    .map((statement) => statement.replace(/^\s*--.*$/gm, "").trim())
    .filter((statement) => statement !== "");
  for (const statement of statements) await tx.query(statement);
}
