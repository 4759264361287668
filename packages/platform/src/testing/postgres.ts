import { randomBytes } from "node:crypto";
import pg from "pg";
import { type Database, openDatabase } from "../database/index.js";

/** The local test server (trust auth); TEST_DATABASE_ADMIN_URL overrides. */
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A PostgreSQL database of its own for one test run. */
export interface TestDatabase {
  url: string;
  /** Drops the database, closing whatever connections are still open to it. */
  drop(): Promise<void>;
}

/** Creates a uniquely named database on the local server; drop it in afterAll. */
export async function createTestDatabase(label = "test"): Promise<TestDatabase> {
  const name = `${label}_${randomBytes(6).toString("hex")}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A service's database on one engine, with its migrations applied, and how to throw it away. */
export interface EngineDatabase {
  db: Database;
  dispose(): Promise<void>;
}

/**
 * The two engines a store test runs on — embedded PGlite in memory, and a fresh PostgreSQL
 * database — for `describe.each`.
 */
export function databaseEngines(migrationsDir: string, label = "test"): Array<{ engine: string; open(): Promise<EngineDatabase> }> {
  return [
    {
      engine: "PGlite",
      async open() {
        const db = await openDatabase({ migrationsDir });
        return { db, dispose: () => db.close() };
      },
    },
    {
      engine: "PostgreSQL",
      async open() {
        const pg = await createTestDatabase(label);
        const db = await openDatabase({ url: pg.url, migrationsDir });
        return {
          db,
          async dispose() {
            await db.close();
            await pg.drop();
          },
        };
      },
    },
  ];
}
