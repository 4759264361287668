// Part 5: whole-mesh cold start (spawn of every process -> all /readyz 200, then each service's
// grpc.health.v1 Check = SERVING) and the idle RSS of each process, with a PostgreSQL database per
// service and with embedded PGlite (fresh data directories, so PGlite initialises them: a first start).
import { healthStatus } from "../src/grpc-probe.mjs";
import { SERVICES, startMesh } from "../src/mesh.mjs";
import { treeRssMiB, processTree } from "../src/processes.mjs";
import { spread } from "../src/stats.mjs";

const NAMES = [...SERVICES, "gateway"];

async function once(db, idleSeconds, log) {
  const mesh = await startMesh({ db });
  try {
    const health = {};
    for (const name of SERVICES) health[name] = await healthStatus(mesh.processes[name].port);
    const notServing = Object.entries(health).filter(([, s]) => s !== "SERVING");
    if (notServing.length > 0) throw new Error(`ready but not SERVING: ${JSON.stringify(health)}`);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const rss = Object.fromEntries(NAMES.map((name) => [name, treeRssMiB(mesh.processes[name].child.pid)]));
    const processes = Object.fromEntries(NAMES.map((name) => [name, processTree(mesh.processes[name].child.pid).length]));
    const readyMs = Object.fromEntries(NAMES.map((name) => [name, mesh.processes[name].readyMs]));
    log(`  footprint ${db}: all SERVING after ${(mesh.coldStartMs / 1000).toFixed(2)} s; idle RSS MiB ${JSON.stringify(Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, Math.round(v)])))}`);
    return { coldStartMs: mesh.coldStartMs, readyMs, rss, processes };
  } finally {
    await mesh.stop();
  }
}

/** Runs part 5: `repeats` mesh starts on PostgreSQL and `pgliteRepeats` on PGlite. */
export async function runFootprint({ repeats = 2, pgliteRepeats = 1, idleSeconds = 3, log = console.log }) {
  const modes = [
    ["postgres", repeats],
    ["pglite", pgliteRepeats],
  ];
  const results = {};
  for (const [db, n] of modes) {
    const runs = [];
    for (let i = 0; i < n; i++) runs.push(await once(db, idleSeconds, log));
    if (runs.length === 0) continue;
    results[db] = {
      coldStartMs: spread(runs.map((r) => r.coldStartMs)),
      readyMs: Object.fromEntries(NAMES.map((name) => [name, spread(runs.map((r) => r.readyMs[name]))])),
      rssMiB: Object.fromEntries(NAMES.map((name) => [name, spread(runs.map((r) => r.rss[name]))])),
      totalRssMiB: spread(runs.map((r) => NAMES.reduce((sum, name) => sum + r.rss[name], 0))),
      processes: runs[0].processes,
    };
  }
  return {
    title: "Footprint: cold start to all SERVING and idle RSS",
    method: `all five processes spawned at once (gateway with its default node:cluster workers; RSS summed over its process tree), ready = every /readyz 200 then grpc.health.v1 Check SERVING on each service; RSS read after ${idleSeconds} s idle; PostgreSQL: a fresh database per service on the local server; PGlite: fresh data directories (first start initialises them)`,
    footprint: results,
  };
}
