import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../src/database/index.js";
import { createTestDatabase, type TestDatabase } from "../src/testing/postgres.js";

const migrationsDir = mkdtempSync(join(tmpdir(), "shop-migrations-"));
writeFileSync(
  join(migrationsDir, "001_accounts.sql"),
  `-- accounts with a balance in minor units
CREATE TABLE accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0));
INSERT INTO accounts VALUES ('a', 9007199254740993);
`,
);
writeFileSync(join(migrationsDir, "002_more.sql"), "INSERT INTO accounts VALUES ('b', 10);\n");
// A script the old line-splitting runner broke: a function body and a string with `;` at line ends.
writeFileSync(
  join(migrationsDir, "010_function.sql"),
  `CREATE FUNCTION balance_of(account TEXT) RETURNS BIGINT LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT balance FROM accounts WHERE id = account);
END;
$$;
COMMENT ON TABLE accounts IS 'balances;
in minor units';
`,
);
writeFileSync(join(migrationsDir, "README.md"), "not a migration");

let postgres: TestDatabase;
beforeAll(async () => {
  postgres = await createTestDatabase("platform");
});
afterAll(async () => {
  await postgres?.drop();
  rmSync(migrationsDir, { recursive: true, force: true });
});

const engines = [
  { name: "PGlite", open: () => openDatabase({ migrationsDir }) },
  { name: "PostgreSQL", open: () => openDatabase({ url: postgres.url, migrationsDir }) },
];

describe.each(engines)("openDatabase on $name", ({ name, open }) => {
  let db: Database;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("applies every migration once, in order, and records it", async () => {
    const { rows } = await db.query<{ name: string }>("SELECT name FROM schema_migrations ORDER BY name");
    expect(rows.map((row) => row.name)).toEqual(["001_accounts.sql", "002_more.sql", "010_function.sql"]);
    expect(db.kind).toBe(name === "PGlite" ? "pglite" : "postgres");
  });

  it("returns int8 columns as exact bigints", async () => {
    const { rows } = await db.query<{ balance: bigint }>("SELECT balance FROM accounts WHERE id = 'a'");
    expect(rows[0]?.balance).toBe(9007199254740993n);
  });

  it("commits a transaction that resolves and rolls back one that throws", async () => {
    await db.transaction(async (tx) => {
      await tx.query("UPDATE accounts SET balance = balance + 5 WHERE id = 'b'");
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query("UPDATE accounts SET balance = balance + 100 WHERE id = 'b'");
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    // The first statement with parameters (a prepared one, sent with BEGIN unanswered) is inside the transaction too.
    await expect(
      db.transaction(async (tx) => {
        await tx.query("UPDATE accounts SET balance = balance + $2 WHERE id = $1", ["b", 1000]);
        await tx.query("SELECT 1");
        throw new Error("changed my mind again");
      }),
    ).rejects.toThrow("changed my mind again");
    const { rows } = await db.query<{ balance: bigint }>("SELECT balance FROM accounts WHERE id = 'b'");
    expect(rows[0]?.balance).toBe(15n);
  });

  it("does not report a commit when a statement failed and `work` went on: the transaction was rolled back", async () => {
    const balance = async () => (await db.query<{ balance: bigint }>("SELECT balance FROM accounts WHERE id = 'b'")).rows[0]?.balance;
    const before = await balance();
    let committedHookRan = false;
    const outcome = await db
      .transaction(async (tx) => {
        tx.afterCommit(() => {
          committedHookRan = true;
        });
        await tx.query("UPDATE accounts SET balance = balance + 1 WHERE id = 'b'");
        // A statement that fails (the CHECK), its error swallowed: the database has aborted the transaction.
        await tx.query("UPDATE accounts SET balance = -1 WHERE id = 'b'").catch(() => undefined);
        return "done";
      })
      .catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/rolled back|aborted/);
    expect(committedHookRan).toBe(false);
    expect(await balance()).toBe(before);
    // The connection is fine for the next transaction.
    await db.transaction((tx) => tx.query("SELECT 1"));
  });

  it("holds a row lock taken by a transaction's first statement until it commits", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const first = db.transaction(async (tx) => {
      await tx.query("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE", ["a"]);
      locked();
      await held;
    });
    await lockTaken;
    if (name !== "PGlite") {
      const error = await db
        .transaction((tx) => tx.query("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE NOWAIT", ["a"]))
        .catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe("55P03"); // lock_not_available
    }
    release();
    await first;
  });

  it("reports the rows a statement changed or returned", async () => {
    const result = await db.query("UPDATE accounts SET balance = balance WHERE id IN ('a', 'b')");
    expect(result.rowCount).toBe(2);
    expect((await db.query("SELECT 1 FROM accounts WHERE id = 'a'")).rowCount).toBe(1);
    expect((await db.query("SELECT 1 FROM accounts WHERE id = 'zzz'")).rowCount).toBe(0);
  });

  it("answers ping", async () => {
    expect(await db.ping()).toBe(true);
  });

  it("runs multi-statement scripts whole, dollar-quoted bodies included", async () => {
    const { rows } = await db.query<{ balance: bigint }>("SELECT balance_of('a') AS balance");
    // The function's body ran (an exact int8 from the table, not just some bigint) …
    expect(rows[0]?.balance).toBe(9007199254740993n);
    // … and the statement after it too: the comment with `;` at a line end is the table's whole.
    const comment = await db.query<{ text: string }>("SELECT obj_description('accounts'::regclass, 'pg_class') AS text");
    expect(comment.rows[0]?.text).toBe("balances;\nin minor units");
  });

  it("applies nothing of a batch when one migration fails, and says which", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shop-migrations-bad-"));
    try {
      writeFileSync(join(dir, "001_ok.sql"), "CREATE TABLE never_kept (id INT);\n");
      writeFileSync(join(dir, "002_broken.sql"), "INSERT INTO no_such_table VALUES (1);\n");
      const url = name === "PGlite" ? undefined : postgres.url;
      await expect(openDatabase({ url, migrationsDir: dir })).rejects.toThrow(/002_broken\.sql/);
      if (name === "PostgreSQL") {
        const { rows } = await db.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'never_kept'");
        expect(rows).toHaveLength(0);
        const recorded = await db.query("SELECT 1 FROM schema_migrations WHERE name = '001_ok.sql'");
        expect(recorded.rows).toHaveLength(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("migrations on PostgreSQL", () => {
  it("run once when several processes open a fresh database at the same time", async () => {
    const fresh = await createTestDatabase("platform");
    try {
      const dbs = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url: fresh.url, migrationsDir })));
      const { rows } = await dbs[0]!.query<{ n: bigint }>("SELECT count(*) AS n FROM accounts");
      expect(rows[0]?.n).toBe(2n);
      const recorded = await dbs[1]!.query<{ n: bigint }>("SELECT count(*) AS n FROM schema_migrations");
      expect(recorded.rows[0]?.n).toBe(3n);
      await Promise.all(dbs.map((db) => db.close()));
    } finally {
      await fresh.drop();
    }
  });
});

describe("prepared statements on PostgreSQL", () => {
  it("keep answering when a table they read * of changes shape under them (a rolling deploy's migration)", async () => {
    const db = await openDatabase({ url: postgres.url, migrationsDir });
    try {
      await db.query("CREATE TABLE reshaped (id INT PRIMARY KEY)");
      await db.query("INSERT INTO reshaped VALUES (1)");
      const read = () => db.query("SELECT * FROM reshaped WHERE id = $1", [1]);
      // prepared on every connection the pool hands out
      await Promise.all(Array.from({ length: 12 }, read));
      await db.query("ALTER TABLE reshaped ADD COLUMN label TEXT NOT NULL DEFAULT 'x'");
      for (let i = 0; i < 12; i += 1) expect((await read()).rows).toEqual([{ id: 1, label: "x" }]);
      expect((await Promise.all(Array.from({ length: 12 }, read))).map((r) => r.rows)).toEqual(
        Array.from({ length: 12 }, () => [{ id: 1, label: "x" }]),
      );
      expect(await db.transaction((tx) => tx.query("SELECT * FROM reshaped WHERE id = $1", [1]))).toEqual({
        rows: [{ id: 1, label: "x" }],
        rowCount: 1,
      });
    } finally {
      await db.close();
    }
  });
});

describe("PostgreSQL transactions on the wire", () => {
  it("sends BEGIN and the transaction's first statement in one write", async () => {
    // What the process hands its sockets, one entry per write the socket dispatches (a write of
    // one buffer, or a writev of what piled up while it was corked).
    const dispatched: Buffer[] = [];
    const { _write, _writev } = Socket.prototype as unknown as {
      _write: (chunk: Buffer, ...rest: unknown[]) => void;
      _writev: (chunks: { chunk: Buffer }[], ...rest: unknown[]) => void;
    };
    const db = await openDatabase({ url: postgres.url, migrationsDir });
    Object.assign(Socket.prototype, {
      _write(this: Socket, chunk: Buffer, ...rest: unknown[]) {
        dispatched.push(Buffer.from(chunk));
        return _write.call(this, chunk, ...rest);
      },
      _writev(this: Socket, chunks: { chunk: Buffer }[], ...rest: unknown[]) {
        dispatched.push(Buffer.concat(chunks.map((c) => Buffer.from(c.chunk))));
        return _writev.call(this, chunks, ...rest);
      },
    });
    try {
      const { rows } = await db.transaction((tx) =>
        tx.query<{ id: string }>("SELECT id /* wire_probe */ FROM accounts WHERE id = $1", ["a"]),
      );
      expect(rows).toEqual([{ id: "a" }]);
      const begin = dispatched.filter((chunk) => chunk.includes("BEGIN"));
      expect(begin).toHaveLength(1);
      expect(begin[0]?.includes("wire_probe")).toBe(true);
    } finally {
      Object.assign(Socket.prototype, { _write, _writev });
      await db.close();
    }
  });
});

describe("PGlite with a data directory", () => {
  it("persists data across a reopen and applies nothing twice", async () => {
    const parent = mkdtempSync(join(tmpdir(), "shop-pglite-"));
    const dataDir = join(parent, "nested", "data"); // created by openDatabase
    try {
      const first = await openDatabase({ dataDir, migrationsDir });
      await first.query("UPDATE accounts SET balance = 42 WHERE id = 'b'");
      await first.close();
      const second = await openDatabase({ dataDir, migrationsDir });
      const recorded = await second.query<{ n: bigint }>("SELECT count(*) AS n FROM schema_migrations");
      expect(recorded.rows[0]?.n).toBe(3n);
      const { rows } = await second.query<{ balance: bigint }>("SELECT balance FROM accounts WHERE id = 'b'");
      expect(rows[0]?.balance).toBe(42n);
      await second.close();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
