import pg from "pg";
import { afterCommitHook, runCommitted } from "./after-commit.js";
import type { Database, Queryable, QueryResult } from "./database.js";
import type { MigrationTarget } from "./migrations.js";

// int8 comes back as bigint on both engines (money is int64 minor units). Set per query rather
// than with pg.types.setTypeParser, which would change every pg user in the process.
const INT8_OID = 20;
const parseInt8 = (value: string) => BigInt(value);
const typeParser = {
  getTypeParser: (oid: number, format?: "text" | "binary") => (oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)),
};

/**
 * Statements with parameters run as named prepared statements: PostgreSQL parses and plans each
 * text once per connection instead of on every call, and the client sends only Bind/Execute
 * after the first time. The name is the text's number in this process; the number of texts
 * named is capped so SQL built from varying parts cannot grow the cache (or the server's) without
 * bound — past the cap a text runs unnamed, as before.
 */
const MAX_NAMED_STATEMENTS = 1000;
const statementNames = new Map<string, string>();
/**
 * Texts whose prepared plan went stale — a table they read `*` of changed shape under a running
 * process (a rolling deploy's migration), which PostgreSQL refuses with "cached plan must not
 * change result type" — run unnamed from then on.
 */
const unnamedStatements = new Set<string>();
function statementName(sql: string): string | undefined {
  if (unnamedStatements.has(sql)) return undefined;
  let name = statementNames.get(sql);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `shop_${statementNames.size}`;
    statementNames.set(sql, name);
  }
  return name;
}

/** feature_not_supported: what a named statement whose result columns changed is refused with. */
const STALE_PLAN = "0A000";

/** A PostgreSQL database through a `pg` connection pool. */
export async function openPostgres(url: string, poolSize = 10): Promise<Database & MigrationTarget> {
  // pipeline: a client writes a query without waiting for the one before it to be answered. Only
  // `inTransaction` makes use of it (its BEGIN goes out with the first statement); every other
  // caller awaits each query, so on the wire nothing else changes.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000, pipeline: true });
  pool.on("error", () => {
    // An idle client lost its connection; the pool replaces it. Queries report their own errors.
  });
  const wrap = (target: pg.Pool | pg.PoolClient, committed?: Array<() => void>): Queryable => ({
    afterCommit: afterCommitHook(committed),
    async query<Row extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const name = params.length > 0 ? statementName(sql) : undefined;
      const run = (named: boolean) =>
        target.query<Row>({ text: sql, values: params as unknown[], types: typeParser, ...(named && name ? { name } : {}) });
      let result: pg.QueryResult<Row>;
      try {
        result = await run(true);
      } catch (error) {
        if (!name || (error as { code?: string }).code !== STALE_PLAN) throw error;
        unnamedStatements.add(sql);
        // Refused before it ran: outside a transaction it is simply sent again; inside one the
        // transaction is aborted, so the error stands (and the retry of the transaction runs unnamed).
        if (target !== pool) throw error;
        result = await run(false);
      }
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    },
  });

  /** A dedicated client between BEGIN and COMMIT; ROLLBACK when `work` throws. */
  async function inTransaction<T>(work: (client: pg.PoolClient, committed: Array<() => void>) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    const committed: Array<() => void> = [];
    let broken: Error | undefined;
    try {
      // BEGIN is not waited for: it goes out in the same write as the transaction's first statement,
      // one round trip fewer. PostgreSQL answers in order, so that statement runs inside the
      // transaction; BEGIN fails only with the connection, and then so does everything after it.
      // The socket is corked until `work` has issued what it issues at once (its first statement,
      // as a rule), so both leave in ONE write and PostgreSQL wakes once for them, not twice.
      const socket = client.connection.stream;
      socket.cork();
      let working: Promise<T>;
      let begin: Promise<unknown>;
      try {
        begin = client.query("BEGIN");
        begin.catch(() => {}); // awaited below; its failure is the connection's, which `work` meets first
        working = work(client, committed);
      } finally {
        socket.uncork();
      }
      const result = await working;
      await begin;
      // After a failed statement PostgreSQL answers COMMIT with ROLLBACK (no error): a `work` that
      // swallowed that statement's error must not be told its transaction committed.
      const commit = await client.query("COMMIT");
      if (commit.command !== "COMMIT") throw new Error("the transaction was aborted by a failed statement and rolled back");
      runCommitted(committed);
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => {
        broken = rollbackError; // the connection is unusable: the pool must discard it
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  const root = wrap(pool);
  return {
    kind: "postgres",
    query: root.query,
    afterCommit: root.afterCommit,
    transaction: (work) => inTransaction((client, committed) => work(wrap(client, committed))),
    migrationTransaction: (work) =>
      inTransaction((client, committed) =>
        work({
          ...wrap(client, committed),
          async exec(script: string) {
            await client.query(script); // no parameters: the simple protocol, several statements allowed
          },
        }),
      ),
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
