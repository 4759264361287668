// Loaded into each mesh process by profile-e2e.mjs (`node --import <this>`): counts what the
// process sends to PostgreSQL through `pg` — statements by kind, their round-trip wall time, and
// how long `pool.connect()` waited for a connection — and, on SIGUSR2, writes the counters since
// the last SIGUSR2 to `$PROFILE_E2E_DIR/<PROFILE_E2E_NAME>-<pid>-<n>.json` and starts again.
// With PROFILE_E2E_CPU=1 it also runs V8's CPU profiler between two SIGUSR2s and writes
// `<name>-<pid>-<n>.cpuprofile` next to the counters: a profile of the load window only.
// Bench-only: nothing in the services loads it.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { createRequire } from "node:module";
import { join } from "node:path";

const dir = process.env.PROFILE_E2E_DIR;
const name = process.env.PROFILE_E2E_NAME ?? "process";
// The services resolve `pg` from the repository root's node_modules: patch that instance.
const pg = createRequire(join(process.cwd(), "package.json"))("pg");

let stats = fresh();
let dumps = 0;
function fresh() {
  return { statements: {}, statementMs: 0, poolConnects: 0, poolWaitMs: 0, poolWaitMaxMs: 0, startedAt: Date.now() };
}

const kinds = new Map();
function kindOf(config) {
  const text = typeof config === "string" ? config : config?.text;
  if (typeof text !== "string") return "other";
  let kind = kinds.get(text);
  if (kind === undefined) {
    kind = classify(text);
    if (kinds.size < 5000) kinds.set(text, kind);
  }
  return kind;
}

function classify(text) {
  const word = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? "other";
  if (word === "BEGIN" || word === "COMMIT" || word === "ROLLBACK") return word;
  // a WITH statement is named by the tables it writes (or reads)
  const writes = [...text.matchAll(/\b(?:insert\s+into|update)\s+(\w+)/gi)].map((m) => m[1]);
  const table = writes.length > 0 ? [...new Set(writes)].join("+") : (/\bfrom\s+(\w+)/i.exec(text)?.[1] ?? "");
  return `${word} ${table}`.trim();
}

const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, values, callback) {
  const kind = kindOf(config);
  const started = performance.now();
  const done = () => {
    const ms = performance.now() - started;
    stats.statements[kind] ??= { count: 0, ms: 0 };
    const entry = stats.statements[kind];
    entry.count++;
    entry.ms += ms;
    stats.statementMs += ms;
  };
  const result = query.call(this, config, values, callback);
  if (result && typeof result.then === "function") result.then(done, done);
  else done();
  return result;
};

const connect = pg.Pool.prototype.connect;
function waited(started) {
  const ms = performance.now() - started;
  stats.poolConnects++;
  stats.poolWaitMs += ms;
  stats.poolWaitMaxMs = Math.max(stats.poolWaitMaxMs, ms);
}
// pool.query() takes its client through connect(callback); transactions through connect().
pg.Pool.prototype.connect = function (callback) {
  const started = performance.now();
  if (callback) {
    return connect.call(this, (err, client, release) => {
      waited(started);
      callback(err, client, release);
    });
  }
  return connect.call(this).then((client) => {
    waited(started);
    return client;
  });
};

const session = process.env.PROFILE_E2E_CPU === "1" ? new Session() : undefined;
if (session) {
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 500 });
  session.post("Profiler.start");
}

process.on("SIGUSR2", () => {
  if (!dir) return;
  const n = dumps++;
  writeFileSync(join(dir, `${name}-${process.pid}-${n}.json`), JSON.stringify({ ...stats, endedAt: Date.now() }));
  stats = fresh();
  session?.post("Profiler.stop", (err, result) => {
    if (!err) writeFileSync(join(dir, `${name}-${process.pid}-${n}.cpuprofile`), JSON.stringify(result.profile));
    session.post("Profiler.start");
  });
});
