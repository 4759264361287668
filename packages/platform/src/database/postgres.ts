import pg from "pg";
import type { Database, QueryResult, Queryable } from "./database.js";

// int8 comes back as bigint on both engines (money is int64 minor units).
const INT8_OID = 20;
const parseInt8 = (value: string) => BigInt(value);

/** A PostgreSQL database through a `pg` connection pool. */
export async function openPostgres(url: string, poolSize = 10): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on("error", () => {
    // An idle client lost its connection; the pool replaces it. Queries report their own errors.
  });
  const typeParser = { getTypeParser: (oid: number, format?: "text" | "binary") => (oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) };
  const wrap = (target: pg.Pool | pg.PoolClient): Queryable => ({
    async query<Row extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query<Row>({ text: sql, values: params as unknown[], types: typeParser });
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    },
  });
  const root = wrap(pool);
  return {
    kind: "postgres",
    query: root.query,
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await work(wrap(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async ping() {
      try {
        await pool.query("SELECT 1");
        return true;
      } catch {
        return false;
      }
    },
    close: () => pool.end(),
  };
}
