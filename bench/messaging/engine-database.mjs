// The bench's databases: the platform's openDatabase on PGlite in memory, on PGlite in a fresh data
// directory (as `npm start` runs it), or a fresh PostgreSQL database on the local server (dropped by
// `dispose`), with the given migrations.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "@shop/platform/database";
import { databaseEngines } from "@shop/platform/testing/postgres";

/** `{ db, dispose }` for engine "pglite" (in memory), "pglite-disk" or "postgres". */
export async function engineDatabase(engine, migrationsDir, label) {
  if (engine === "pglite-disk") {
    const dataDir = mkdtempSync(join(tmpdir(), `${label}-`));
    const db = await openDatabase({ migrationsDir, dataDir });
    return {
      db,
      dispose: async () => {
        await db.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (engine === "pglite") {
    const db = await openDatabase({ migrationsDir });
    return { db, dispose: () => db.close() };
  }
  const postgres = databaseEngines(migrationsDir, label).find((e) => e.engine === "PostgreSQL");
  return postgres.open();
}
