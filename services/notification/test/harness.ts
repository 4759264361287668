import { readFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import type { Database, Queryable, QueryResult } from "@shop/platform/database";

/** An in-memory PGlite behind the platform's Database interface, with `sql` applied. */
export async function memoryDatabase(sql: string): Promise<Database> {
  const pg = new PGlite();
  await pg.exec(sql);
  const queryable = (q: Pick<PGlite, "query">): Queryable => ({
    async query<Row extends Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await q.query<Row>(text, params ? [...params] : undefined);
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

/** The notification service's schema, from its migrations folder. */
export const NOTIFICATION_SCHEMA = readFileSync(new URL("../migrations/001_deliveries.sql", import.meta.url), "utf8");

/** Polls `probe` until it returns something other than undefined/false. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}
