// Applying a service's migration files to a throwaway database with bare pg (set-up of the floors,
// which run without the platform; not measured).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { migrationFiles } from "@shop/platform/database";
import pg from "pg";

/** Runs the `NNN_name.sql` files of `dir` on the database at `url`, in order. */
export async function applyMigrations(url, dir) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const file of migrationFiles(dir)) await client.query(readFileSync(join(dir, file), "utf8"));
  } finally {
    await client.end();
  }
}
