/** The rows and count a statement returned. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** Anything SQL can be sent to: the database itself, or a transaction on it. */
export interface Queryable {
  /** Runs one statement with `$1`-style parameters. */
  query<Row extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
  /**
   * Calls `fn` once what was written through this is committed: after COMMIT in a transaction
   * (never, when it rolls back), at once on the database itself, where each statement commits
   * on its own. For work that must not run before the data is visible to others (e.g. waking
   * the outbox relay).
   */
  afterCommit(fn: () => void): void;
}

/**
 * A service's own database: embedded PGlite by default, PostgreSQL through `pg` when a URL is
 * given. The same SQL runs on both, and values come back the same on both: `int8`/`bigint`
 * columns (and `count(*)`) as JS `bigint` — money is int64 minor units and must stay exact —
 * `int4` as number, `timestamptz` as Date, `numeric` as string.
 */
export interface Database extends Queryable {
  /** Which engine is underneath. */
  readonly kind: "pglite" | "postgres";
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws. A
   * statement that failed aborts the transaction even if `work` caught its error: it then rejects.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** True when the database answers a trivial query; health checks call it. */
  ping(): Promise<boolean>;
  /** Closes connections (and, for PGlite, flushes to disk). */
  close(): Promise<void>;
}

/** Where a service's database lives and how its schema is made. */
export interface DatabaseConfig {
  /** A postgres:// URL; when absent, an embedded PGlite database is used. */
  url?: string | undefined;
  /** PGlite's data directory; absent means in memory (tests). Ignored when `url` is set. */
  dataDir?: string | undefined;
  /** A folder of `NNN_name.sql` files, applied in order at open and recorded so each runs once. */
  migrationsDir: string;
}
