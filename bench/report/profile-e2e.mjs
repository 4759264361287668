#!/usr/bin/env node
// Where an order goes (issue 17): the e2e mesh (PostgreSQL per service) under the direct
// CreateOrder load of bench/e2e/load.mjs, seen from every side at once, per load point:
//  - CPU per order of each mesh process (/proc), and with PROFILE_CPU=1 (default) a `--cpu-prof`
//    of every process, summarised as top self-time frames and packages;
//  - what each process sends to PostgreSQL per order (statements by kind, their wall time, pool
//    waits), counted inside the process by profile-e2e-hook.mjs;
//  - PostgreSQL's view: commits and rows per order per database (pg_stat_database), and the
//    mesh's backends sampled from pg_stat_activity (active / idle in transaction / waiting, on what);
//  - wall time per hop, from the timestamps each service's own rows carry (order placed →
//    stock reserved → payment authorized → stock committed → payment captured → order done).
// Usage: node bench/report/profile-e2e.mjs   (env: PROFILE_SECONDS=5, PROFILE_CONCURRENCY=1,16,
// PROFILE_CPU=1, PROFILE_OUT=<dir, default a fresh /tmp folder>, BENCH_LOG_LEVEL=info)
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { CATALOGUE_SKUS as SKUS } from "../e2e/catalogue.mjs";
import { startMesh } from "../src/mesh.mjs";
import { meshClientOptions } from "../src/mesh-clients.mjs";
import { cpuSeconds, processTree } from "../src/processes.mjs";
import { quantile } from "../src/stats.mjs";
import { summarize } from "./cpu-profile.mjs";

const LOAD = fileURLToPath(new URL("../e2e/load.mjs", import.meta.url));
const HOOK = new URL("./profile-e2e-hook.mjs", import.meta.url).href;
const SERVICES = ["inventory", "payment", "notification", "order"];
const seconds = Number(process.env.PROFILE_SECONDS ?? 5);
const concurrencies = (process.env.PROFILE_CONCURRENCY ?? "1,16").split(",").map(Number);
const cpuProfile = process.env.PROFILE_CPU !== "0";
const out = process.env.PROFILE_OUT ?? (await mkdtemp(join(tmpdir(), "shop-profile-e2e-")));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

const nodeArgs = {};
const perProcessEnv = {};
for (const name of [...SERVICES, "gateway"]) {
  nodeArgs[name] = ["--import", HOOK];
  perProcessEnv[name] = { PROFILE_E2E_DIR: join(out, "db"), PROFILE_E2E_NAME: name, PROFILE_E2E_CPU: cpuProfile ? "1" : "0" };
}
await mkdir(join(out, "db"), { recursive: true });

const mesh = await startMesh({
  db: "postgres",
  env: { GATEWAY_WORKERS: "1", LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info" },
  nodeArgs,
  perProcessEnv,
});
const dbNames = Object.fromEntries(SERVICES.map((s) => [s, new URL(mesh.databases[s].url).pathname.slice(1)]));
// The observers' own statements must not count as the mesh's: they connect to the server's `postgres` database.
const adminUrl = Object.assign(new URL(mesh.databases.order.url), { pathname: "/postgres" }).toString();
const admin = new pg.Client({ connectionString: adminUrl });
const clients = Object.fromEntries(SERVICES.map((s) => [s, new pg.Client({ connectionString: mesh.databases[s].url })]));
const report = { out, seconds, points: [] };
const cpuFiles = {};

/** Counters of every mesh database (pg_stat_database), read in a fresh snapshot. */
async function dbCounters() {
  const { rows } = await admin.query(
    `select datname, xact_commit::float8 as commits, xact_rollback::float8 as rollbacks, tup_inserted::float8 as inserted,
            tup_updated::float8 as updated, tup_deleted::float8 as deleted, tup_returned::float8 as returned, tup_fetched::float8 as fetched,
            blks_hit::float8 as blks_hit
     from pg_stat_database where datname = any($1)`,
    [Object.values(dbNames)],
  );
  return Object.fromEntries(rows.map((r) => [Object.keys(dbNames).find((s) => dbNames[s] === r.datname), r]));
}

/** Samples pg_stat_activity of the mesh databases every 10 ms until `stop.done`. */
async function sampleActivity(stop) {
  const sampler = new pg.Client({ connectionString: adminUrl });
  await sampler.connect();
  const counts = {};
  let samples = 0;
  const pids = new Map(); // backend pid -> service
  try {
    while (!stop.done) {
      const { rows } = await sampler.query(
        `select pid, datname, state, coalesce(wait_event_type, '') as wtype, coalesce(wait_event, '') as wevent from pg_stat_activity
         where datname = any($1) and pid <> pg_backend_pid() and backend_type = 'client backend'`,
        [Object.values(dbNames)],
      );
      samples++;
      for (const r of rows) {
        const service = Object.keys(dbNames).find((s) => dbNames[s] === r.datname);
        pids.set(r.pid, service);
        const key = r.state === "idle" ? "idle" : `${r.state}${r.wtype ? ` / ${r.wtype}:${r.wevent}` : ""}`;
        counts[service] ??= {};
        const own = counts[service];
        own[key] = (own[key] ?? 0) + 1;
      }
      await sleep(10);
    }
  } finally {
    await sampler.end();
  }
  stop.backends = pids;
  // mean backends in each state
  return Object.fromEntries(
    Object.entries(counts).map(([s, states]) => [s, Object.fromEntries(Object.entries(states).map(([k, n]) => [k, n / samples]))]),
  );
}

/** SIGUSR2 to each service: its hook writes and resets its counters; returns them by service. */
async function dumpHooks(tag) {
  const dir = join(out, "db");
  const before = new Set(await readdir(dir));
  for (const s of SERVICES) mesh.processes[s].child.kill("SIGUSR2");
  await sleep(300);
  const stats = {};
  for (const file of (await readdir(dir)).filter((f) => !before.has(f) && f.endsWith(".json"))) {
    const service = file.split("-")[0];
    stats[service] = JSON.parse(await readFile(join(dir, file), "utf8"));
  }
  await sleep(700); // the profiles are written after the counters
  const profiles = (await readdir(dir)).filter((f) => !before.has(f) && f.endsWith(".cpuprofile"));
  if (!tag.startsWith("before")) cpuFiles[tag] = profiles;
  await writeFile(join(out, `hooks-${tag}.json`), JSON.stringify(stats, null, 2));
  return stats;
}

/** Per-hop wall time of the point's confirmed orders, from the rows' own timestamps (ms, median and p90). */
async function hops(user) {
  const epoch = (col) => `extract(epoch from ${col}) * 1000`;
  const { rows: orders } = await clients.order.query(
    `select order_id, ${epoch("created_at")} as placed, ${epoch("updated_at")} as done from orders where user_id = $1 and status = 'CONFIRMED'`,
    [user],
  );
  const ids = orders.map((o) => o.order_id);
  const { rows: reservations } = await clients.inventory.query(
    `select reservation_id, ${epoch("created_at")} as reserved, ${epoch("updated_at")} as committed from reservations where reservation_id = any($1)`,
    [ids],
  );
  const { rows: payments } = await clients.payment.query(
    `select order_id, ${epoch("created_at")} as authorized, ${epoch("updated_at")} as captured from payments where order_id = any($1)`,
    [ids],
  );
  const r = new Map(reservations.map((x) => [x.reservation_id, x]));
  const p = new Map(payments.map((x) => [x.order_id, x]));
  const steps = {
    "placed → reserve txn": [],
    "reserve txn → authorized": [],
    "authorized → commit txn": [],
    "commit txn → captured": [],
    "captured → order DONE": [],
    "placed → DONE": [],
  };
  for (const o of orders) {
    const res = r.get(o.order_id);
    const pay = p.get(o.order_id);
    if (!res || !pay) continue;
    const t = [o.placed, res.reserved, pay.authorized, res.committed, pay.captured, o.done].map(Number);
    const names = Object.keys(steps);
    for (let i = 0; i < 5; i++) steps[names[i]].push(t[i + 1] - t[i]);
    steps["placed → DONE"].push(t[5] - t[0]);
  }
  return Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, { p50: quantile(v, 0.5), p90: quantile(v, 0.9), n: v.length }]));
}

function runLoad(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(stdout.trim().split("\n").at(-1))) : reject(new Error(`load exited ${code}`)),
    );
  });
}

try {
  await admin.connect();
  for (const c of Object.values(clients)) await c.connect();
  {
    const { createClient } = await import("@shop/platform");
    const { InventoryService } = await import("@shop/contracts/shop/inventory/v1/inventory_service_pb");
    const inv = createClient(InventoryService, mesh.address("inventory"), await meshClientOptions(mesh.certsDir, "operator", "inventory"));
    for (const sku of SKUS) await inv.restockProduct({ sku, quantity: 1_000_000 });
    inv.close();
  }
  {
    // The mesh at rest: what its timers (relay polls, recovery passes, sweeps) cost per second.
    const pids = Object.fromEntries(Object.entries(mesh.processes).map(([n, { child }]) => [n, processTree(child.pid)]));
    await dumpHooks("before-idle");
    const cpu0 = Object.fromEntries(Object.entries(pids).map(([n, ps]) => [n, ps.reduce((s, p) => s + cpuSeconds(p), 0)]));
    const t0 = performance.now();
    await sleep(5000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = Object.fromEntries(Object.entries(pids).map(([n, ps]) => [n, ps.reduce((s, p) => s + cpuSeconds(p), 0)]));
    const hooks = await dumpHooks("idle");
    report.idle = {
      cpuMsPerSecond: Object.fromEntries(Object.keys(pids).map((n) => [n, ((cpu1[n] - cpu0[n]) * 1000) / elapsed])),
      statementsPerSecond: Object.fromEntries(
        SERVICES.map((s) => [s, Object.values(hooks[s]?.statements ?? {}).reduce((n, v) => n + v.count, 0) / elapsed]),
      ),
    };
    console.log(
      `\n== idle: CPU ms/s ${Object.entries(report.idle.cpuMsPerSecond)
        .map(([n, ms]) => `${n} ${fmt(ms)}`)
        .join(", ")}; statements/s ${Object.entries(report.idle.statementsPerSecond)
        .map(([n, c]) => `${n} ${fmt(c)}`)
        .join(", ")}`,
    );
  }
  for (const concurrency of concurrencies) {
    const user = `profile-${concurrency}`;
    const pids = Object.fromEntries(Object.entries(mesh.processes).map(([n, { child }]) => [n, processTree(child.pid)]));
    await dumpHooks(`before-c${concurrency}`);
    await sleep(1100); // pg_stat_database is flushed about once a second
    const db0 = await dbCounters();
    const cpu0 = Object.fromEntries(Object.entries(pids).map(([n, ps]) => [n, ps.reduce((s, p) => s + cpuSeconds(p), 0)]));
    const stop = { done: false };
    // CPU of the mesh databases' backends (PostgreSQL runs on this machine): those alive now, and
    // any the sampler sees during the load (counted from their start).
    const { rows: backends0 } = await admin.query("select pid, datname from pg_stat_activity where datname = any($1)", [
      Object.values(dbNames),
    ]);
    const pgCpu0 = new Map(backends0.map((r) => [r.pid, cpuSeconds(r.pid)]));
    const activity = sampleActivity(stop);
    const result = await runLoad({
      mode: "direct",
      target: mesh.address("order"),
      certsDir: mesh.certsDir,
      user,
      concurrency,
      seconds,
      skus: SKUS,
    });
    stop.done = true;
    const cpu1 = Object.fromEntries(Object.entries(pids).map(([n, ps]) => [n, ps.reduce((s, p) => s + cpuSeconds(p), 0)]));
    const activityMeans = await activity;
    const pgCpuMsPerOrder = {};
    for (const [pid, service] of stop.backends ?? []) {
      const used = cpuSeconds(pid) - (pgCpu0.get(pid) ?? 0);
      if (Number.isFinite(used)) pgCpuMsPerOrder[service] = (pgCpuMsPerOrder[service] ?? 0) + (used * 1000) / (result.orders + concurrency);
    }
    const hooks = await dumpHooks(`c${concurrency}`);
    await sleep(1100);
    const db1 = await dbCounters();
    const orders = result.orders + concurrency; // the load's warm-up orders count on the server side
    const point = {
      concurrency,
      ordersPerSec: result.ordersPerSec,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      statuses: result.statuses,
      orders,
      cpuMsPerOrder: Object.fromEntries(Object.keys(pids).map((n) => [n, ((cpu1[n] - cpu0[n]) * 1000) / orders])),
      db: Object.fromEntries(
        SERVICES.map((s) => [
          s,
          {
            ...Object.fromEntries(
              Object.keys(db1[s])
                .filter((k) => k !== "datname")
                .map((k) => [k, (db1[s][k] - db0[s][k]) / orders]),
            ),
            statements: Object.fromEntries(
              Object.entries(hooks[s]?.statements ?? {})
                .sort((a, b) => b[1].count - a[1].count)
                .map(([k, v]) => [k, { perOrder: v.count / orders, meanMs: v.ms / v.count }]),
            ),
            statementsPerOrder: Object.values(hooks[s]?.statements ?? {}).reduce((n, v) => n + v.count, 0) / orders,
            statementWallMsPerOrder: (hooks[s]?.statementMs ?? 0) / orders,
            poolWaitMsPerOrder: (hooks[s]?.poolWaitMs ?? 0) / orders,
            poolWaitMaxMs: hooks[s]?.poolWaitMaxMs ?? 0,
          },
        ]),
      ),
      activity: activityMeans,
      pgCpuMsPerOrder,
      hops: await hops(user),
    };
    report.points.push(point);
    print(point);
  }
} finally {
  await admin.end().catch(() => undefined);
  for (const c of Object.values(clients)) await c.end().catch(() => undefined);
  await mesh.stop();
}

if (cpuProfile) {
  report.cpu = {};
  console.log("\n== CPU profiles of the load windows (self time) ==");
  for (const [tag, files] of Object.entries(cpuFiles)) {
    for (const file of files.sort()) {
      const summary = summarize(withoutProfiler(JSON.parse(await readFile(join(out, "db", file), "utf8"))), 20);
      report.cpu[`${tag}/${file}`] = summary;
      console.log(`\n-- ${tag} ${file}: busy ${fmt(summary.totalMs, 0)} ms`);
      console.log(`   packages: ${summary.origins.map((o) => `${o.origin} ${fmt(o.share * 100, 0)}%`).join(", ")}`);
      for (const f of summary.frames.slice(0, 12)) console.log(`   ${fmt(f.share * 100, 1).padStart(5)}%  ${f.name}  ${f.location}`);
    }
  }
}
await writeFile(join(out, "report.json"), JSON.stringify(report, null, 2));
console.log(`\nfull report: ${join(out, "report.json")}`);

/**
 * The profile without the profiler's own work: the samples under the inspector session that
 * stops it (`dispatch` under node:inspector, tens of ms at the end of a window) count as idle.
 */
function withoutProfiler(profile) {
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  for (const node of profile.nodes) {
    for (let up = node; up; up = parent.get(up.id)) {
      if (up.callFrame.url === "node:inspector") {
        node.callFrame = { ...node.callFrame, functionName: "(idle)" };
        break;
      }
    }
  }
  return profile;
}

function print(p) {
  console.log(
    `\n== c=${p.concurrency}: ${fmt(p.ordersPerSec)} orders/s, p50 ${fmt(p.p50Ms)} ms, p99 ${fmt(p.p99Ms)} ms, ${JSON.stringify(p.statuses)}`,
  );
  const cpu = Object.entries(p.cpuMsPerOrder);
  console.log(
    `   CPU ms/order: ${cpu.map(([n, ms]) => `${n} ${fmt(ms, 2)}`).join(", ")}; mesh ${fmt(
      cpu.reduce((s, [, ms]) => s + ms, 0),
      2,
    )}`,
  );
  const pgCpu = Object.entries(p.pgCpuMsPerOrder);
  console.log(
    `   PostgreSQL backend CPU ms/order: ${pgCpu.map(([n, ms]) => `${n} ${fmt(ms, 2)}`).join(", ")}; all ${fmt(
      pgCpu.reduce((s, [, ms]) => s + ms, 0),
      2,
    )}`,
  );
  for (const s of SERVICES) {
    const d = p.db[s];
    console.log(
      `   ${s}: ${fmt(d.commits, 2)} commits, ${fmt(d.statementsPerOrder, 1)} statements (${fmt(d.statementWallMsPerOrder, 2)} ms waiting on them), pool wait ${fmt(d.poolWaitMsPerOrder, 2)} ms (max ${fmt(d.poolWaitMaxMs, 1)}), rows ins/upd ${fmt(d.inserted, 1)}/${fmt(d.updated, 1)} per order`,
    );
    console.log(
      `      ${Object.entries(d.statements)
        .map(([k, v]) => `${k} ×${fmt(v.perOrder, 2)} (${fmt(v.meanMs, 2)} ms)`)
        .join("; ")}`,
    );
    const a = p.activity[s];
    if (a)
      console.log(
        `      backends (mean): ${Object.entries(a)
          .map(([k, n]) => `${k} ${fmt(n, 2)}`)
          .join(", ")}`,
      );
  }
  console.log(
    `   hops (ms p50/p90): ${Object.entries(p.hops)
      .map(([k, v]) => `${k} ${fmt(v.p50)}/${fmt(v.p90)}`)
      .join(", ")}`,
  );
}
