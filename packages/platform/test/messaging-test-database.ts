import { PGlite } from "@electric-sql/pglite";
import type { Database, Queryable, QueryResult } from "../src/database/database.js";

/** An in-memory PGlite behind the platform's Database interface, for messaging tests. */
export async function memoryDatabase(schemaSql: string): Promise<Database> {
  const pg = new PGlite();
  await pg.exec(schemaSql);
  const queryable = (q: Pick<PGlite, "query">): Queryable => ({
    async query<Row extends Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await q.query<Row>(sql, params ? [...params] : undefined);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
  });
  return {
    kind: "pglite",
    ...queryable(pg),
    transaction: (work) => pg.transaction((tx) => work(queryable(tx))),
    ping: async () => (await pg.query("select 1")).rows.length === 1,
    close: () => pg.close(),
  };
}
