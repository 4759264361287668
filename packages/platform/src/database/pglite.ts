import { PGlite, types } from "@electric-sql/pglite";
import type { Database, QueryResult, Queryable } from "./database.js";

/** int8 comes back as bigint on both engines (money is int64 minor units). */
const parsers = { [types.INT8]: (value: string) => BigInt(value) };

/** An embedded PGlite database: in memory, or persisted in `dataDir`. */
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  const pglite = await PGlite.create(dataDir ? { dataDir, parsers } : { parsers });
  const wrap = (target: Pick<PGlite, "query">): Queryable => ({
    async query<Row extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query<Row>(sql, params as unknown[]);
      // Statements that return rows count them, like pg does; the rest report rows affected.
      return { rows: result.rows, rowCount: result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0) };
    },
  });
  const root = wrap(pglite);
  return {
    kind: "pglite",
    query: root.query,
    transaction: (work) => pglite.transaction((tx) => work(wrap(tx))),
    async ping() {
      try {
        await pglite.query("SELECT 1");
        return true;
      } catch {
        return false;
      }
    },
    close: () => pglite.close(),
  };
}
