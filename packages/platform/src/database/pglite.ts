import { spawn } from "node:child_process";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { PGlite, type Transaction, types } from "@electric-sql/pglite";
import { afterCommitHook, runCommitted } from "./after-commit.js";
import type { Database, Queryable, QueryResult } from "./database.js";
import type { MigrationTarget } from "./migrations.js";

/** int8 comes back as bigint on both engines (money is int64 minor units). */
const parsers = { [types.INT8]: (value: string) => BigInt(value) };

/**
 * An embedded PGlite database: in memory, or persisted in `dataDir` (created if missing). One
 * connection: queries and transactions take turns, so code inside `transaction()` must use the
 * `tx` it is given, never the database itself.
 */
export async function openPglite(dataDir: string | undefined): Promise<Database & MigrationTarget> {
  if (dataDir) await initialiseFromTemplate(dataDir);
  // PGlite is a 9 MB WebAssembly module. V8 compiles all of it with its baseline compiler (Liftoff)
  // and then recompiles hot functions with TurboFan in the background; that second tier costs
  // ~40 MiB RSS per process (Node 20; on Node 24 a ~500 MiB peak a second after the start) and
  // ~200 ms CPU at start, and bought nothing measurable here: 1,000 transactions of insert, update
  // and select ran at 0.94 ms CPU each with it and 0.96 ms without, and the first 1,000 at 2.7 vs
  // 1.4 ms (the compile itself). The flag applies to WebAssembly compiled from now on in this
  // process (PGlite is the services' only big module; compiled code is not shared with others).
  // Node 24's V8 ignores it when set at run time: `npm start` also passes it on the command line.
  setFlagsFromString("--liftoff-only");
  // PostgreSQL's defaults are sized for a server; an embedded per-service database of a few thousand
  // rows needs far less, and PGlite's shared memory is zero-filled WASM memory, so every megabyte of
  // it is resident from the start: 128 MB of shared buffers took a restarted service to ~290 MiB
  // RSS, 16 MB to ~165. 4 MB (512 pages) saves another ~13 MiB a process, and max_connections=8
  // (one backend runs; the default 100 sizes lock and process tables for 100) ~4 MiB more; 1,000
  // insert-update-select transactions ran at the same CPU per transaction (0.83 vs 0.88 ms).
  // Durability is PGlite's as before (fsync off in its defaults, WAL on: a killed process loses
  // no committed row; see test/pglite-template.test.ts).
  const startParams = [...PGlite.defaultStartParams, "-c", "shared_buffers=4MB", "-c", "max_connections=8"];
  const pglite = await PGlite.create(dataDir ? { dataDir, parsers, startParams } : { parsers, startParams });
  const wrap = (target: Pick<PGlite, "query"> | Transaction, committed?: Array<() => void>): Queryable => ({
    afterCommit: afterCommitHook(committed),
    async query<Row extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      const result = await target.query<Row>(sql, params as unknown[]);
      return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
    },
  });
  /** PGlite's transaction, then its `afterCommit` work once it committed. */
  async function inTransaction<T>(work: (tx: Transaction, committed: Array<() => void>) => Promise<T>): Promise<T> {
    const committed: Array<() => void> = [];
    const result = await pglite.transaction((tx) => work(tx, committed));
    runCommitted(committed);
    return result;
  }
  const root = wrap(pglite);
  return {
    kind: "pglite",
    afterCommit: root.afterCommit,
    query: root.query,
    transaction: (work) => inTransaction((tx, committed) => work(wrap(tx, committed))),
    migrationTransaction: (work) =>
      inTransaction((tx, committed) =>
        work({
          ...wrap(tx, committed),
          async exec(script: string) {
            await tx.exec(script);
          },
        }),
      ),
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

const pgliteModule = createRequire(import.meta.url).resolve("@electric-sql/pglite");
const pgliteVersion: string = JSON.parse(readFileSync(join(dirname(pgliteModule), "..", "package.json"), "utf8")).version;
const initialised = (dir: string) => existsSync(join(dir, "PG_VERSION"));

/**
 * Gives a new data directory its cluster by copying an initialised template instead of running
 * initdb in it. PGlite's own first start runs initdb in a second WASM instance inside the process
 * (~5 s of CPU, and ~400 MiB that stays mapped for the life of the service): with four services
 * starting at once that is four initdbs on two cores. Here the first service to need one makes
 * `<parent>/.pglite-template-<version>` once, in a short-lived child process (its memory goes with
 * it), under a lock file the others wait on; each then copies it (~40 MB, tens of ms) to a staging
 * directory beside its own and renames that into place, so a crash mid-copy never leaves a
 * half-made cluster that looks initialised. PGlite then opens it as an existing database, with the
 * same settings as always. A directory that already holds something other than a cluster is left to
 * PGlite, as before.
 */
export async function initialiseFromTemplate(dataDir: string): Promise<void> {
  if (initialised(dataDir)) return;
  const parent = dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return;
  const template = join(parent, `.pglite-template-${pgliteVersion}`);
  await ensureTemplate(template);
  const name = basename(dataDir);
  for (const leftover of readdirSync(parent).filter((entry) => entry.startsWith(`${name}.initialising-`))) {
    rmSync(join(parent, leftover), { recursive: true, force: true });
  }
  const staging = `${dataDir}.initialising-${process.pid}`;
  cpSync(template, staging, { recursive: true });
  if (existsSync(dataDir)) rmdirSync(dataDir); // empty, checked above (and refuses if it no longer is)
  renameSync(staging, dataDir);
}

/** Makes the template unless it exists: one process initdbs under `<template>.lock`, the others wait for it. */
async function ensureTemplate(template: string): Promise<void> {
  const lock = `${template}.lock`;
  const deadline = Date.now() + 180_000;
  while (!initialised(template)) {
    let fd: number;
    try {
      fd = openSync(lock, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (lockHolderGone(lock)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`gave up waiting for ${lock} (held by a live process for 180 s)`);
      await sleep(100);
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
      closeSync(fd);
      if (initialised(template)) return;
      const parent = dirname(template);
      for (const entry of readdirSync(parent).filter((e) => e.startsWith(".pglite-template-") && !e.endsWith(".lock"))) {
        rmSync(join(parent, entry), { recursive: true, force: true }); // stale staging, or another PGlite version's template
      }
      const staging = `${template}.initialising-${process.pid}`;
      await initdbInChild(staging);
      renameSync(staging, template);
    } finally {
      unlinkSync(lock);
    }
  }
}

/** True when the lock file names a process that no longer runs (a first start killed mid-initdb). */
function lockHolderGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(lock, "utf8"));
  } catch {
    return false; // just released, or just created and not yet written
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Runs PGlite's initdb into `dir` in a child process and closes it cleanly. */
function initdbInChild(dir: string): Promise<void> {
  const script = `const { PGlite } = require(process.env.PGLITE_MODULE);
PGlite.create({ dataDir: process.env.PGLITE_TEMPLATE_DIR }).then((pg) => pg.close()).catch((error) => { console.error(error); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    // Baseline-compiled only (see openPglite): initdb in ~3.0 s of CPU instead of ~4.7.
    const child = spawn(process.execPath, ["--liftoff-only", "-e", script], {
      env: { ...process.env, PGLITE_MODULE: pgliteModule, PGLITE_TEMPLATE_DIR: dir },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0 && initialised(dir)) resolve();
      else reject(new Error(`PGlite initdb in ${dir} failed (${signal ?? `exit ${code}`}): ${stderr}`));
    });
  });
}
