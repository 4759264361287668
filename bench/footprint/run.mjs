// Part 5: whole-mesh cold start (spawn of every process -> all /readyz 200, then each service's
// grpc.health.v1 Check = SERVING) and the idle RSS of each process, with a PostgreSQL database per
// service, and with embedded PGlite: fresh data directories (a first start initialises them), then
// a restart on the directories that first start left.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNodeArgs, startProcessEnv } from "../../scripts/start/process-env.mjs";
import { repoRoot, SERVICES, startMesh } from "../src/mesh.mjs";
import { processTree, stopChild, treeRssMiB } from "../src/processes.mjs";
import { spread } from "../src/stats.mjs";

const NAMES = [...SERVICES, "gateway"];

/** CPU seconds a process tree has used so far, its waited-for children included (the initdb child). */
function treeCpuSeconds(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]); // utime stime cutime cstime
    } catch {
      // gone
    }
  }
  return ticks / 100; // USER_HZ
}

/**
 * Proportional set size (MiB) of a process tree: RSS with each shared page divided among the
 * processes that map it. RSS summed over the mesh counts the node binary's ~40 MiB of file pages
 * once per process; PSS summed counts them once.
 */
function treePssMiB(pid) {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      kib += Number(readFileSync(`/proc/${p}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+)/m)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kib / 1024;
}

/**
 * grpc.health.v1.Health/Check ("" service) on `port`: "SERVING", "NOT_SERVING", or the error. The
 * mesh runs mTLS (as `npm start` does), so the call presents the gateway's workload certificate.
 */
function healthStatus(port, certsDir) {
  const file = (name) => readFileSync(join(certsDir, "gateway", name));
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      ca: file("ca.crt"),
      cert: file("tls.crt"),
      key: file("tls.key"),
      // The server's identity is its SPIFFE URI, not a host name; the CA check still applies.
      checkServerIdentity: () => undefined,
    });
    const fail = (error) => {
      session.destroy();
      resolve(String(error));
    };
    session.on("error", fail);
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks = [];
    let headers = {};
    stream.on("response", (h) => (headers = h));
    stream.on("trailers", (t) => (headers = { ...headers, ...t }));
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("error", fail);
    stream.on("end", () => {
      session.close();
      if (String(headers["grpc-status"]) !== "0") return resolve(`grpc-status ${headers["grpc-status"]} ${headers["grpc-message"] ?? ""}`);
      // HealthCheckResponse { status = 1 } is 08 01 after the 5-byte frame header; absent field = UNKNOWN (0).
      const body = Buffer.concat(chunks);
      const status = body.length >= 7 && body[5] === 0x08 ? body[6] : 0;
      resolve(["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][status] ?? String(status));
    });
    stream.end(Buffer.alloc(5));
  });
}

/**
 * Each named process tree's CPU seconds so far (what it took to get ready), then, after
 * `idleSeconds` of idle, its RSS, PSS and number of processes. `pidOf(name)` is the tree's root.
 */
async function idleFootprint(pidOf, idleSeconds) {
  const each = (measure) => Object.fromEntries(NAMES.map((name) => [name, measure(pidOf(name))]));
  const cpuSeconds = each(treeCpuSeconds);
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  return { cpuSeconds, rss: each(treeRssMiB), pss: each(treePssMiB), processes: each((pid) => processTree(pid).length) };
}

const sum = (values) => Object.values(values).reduce((total, value) => total + value, 0);

async function once(mode, idleSeconds, log, dataDir) {
  const db = mode.startsWith("pglite") ? "pglite" : "postgres";
  // Each process runs as `npm start` runs it: its environment (the gateway: one process) and node flags.
  const perProcessEnv = Object.fromEntries(NAMES.map((name) => [name, startProcessEnv(name)]));
  const nodeArgs = Object.fromEntries(NAMES.map((name) => [name, startNodeArgs()]));
  const mesh = await startMesh({ db, dataDir, perProcessEnv, nodeArgs });
  try {
    const health = {};
    for (const name of SERVICES) health[name] = await healthStatus(mesh.processes[name].port, mesh.certsDir);
    const notServing = Object.entries(health).filter(([, s]) => s !== "SERVING");
    if (notServing.length > 0) throw new Error(`ready but not SERVING: ${JSON.stringify(health)}`);
    // CPU used to get there: unlike the wall time, it hardly depends on what else the machine runs.
    const { cpuSeconds, rss, pss, processes } = await idleFootprint((name) => mesh.processes[name].child.pid, idleSeconds);
    const readyMs = Object.fromEntries(NAMES.map((name) => [name, mesh.processes[name].readyMs]));
    const rounded = (values) => JSON.stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v)])));
    log(
      `  footprint ${mode}: all SERVING after ${(mesh.coldStartMs / 1000).toFixed(2)} s, ${sum(cpuSeconds).toFixed(1)} CPU s ${JSON.stringify(cpuSeconds)}; idle RSS ${Math.round(sum(rss))} MiB ${rounded(rss)}, PSS ${Math.round(sum(pss))} MiB`,
    );
    return { coldStartMs: mesh.coldStartMs, readyMs, rss, pss, processes, cpuSeconds };
  } finally {
    await mesh.stop();
  }
}

/**
 * The floor beside a PGlite restart: one process per mesh process with the same node flags and
 * environment, each service's opening only its PGlite data directory (as the platform does) and the
 * gateway's an idle HTTP server (bench/footprint/floor-process.mjs); idle RSS and PSS read as for the mesh.
 */
async function floorOnce(idleSeconds, log, dataDir) {
  const started = performance.now();
  const script = join(repoRoot, "bench/footprint/floor-process.mjs");
  const children = {};
  const readyMs = {};
  try {
    await Promise.all(
      NAMES.map(async (name) => {
        const args = name === "gateway" ? [] : [join(dataDir, name), join(repoRoot, `services/${name}/migrations`)];
        const child = spawn(process.execPath, [...startNodeArgs(), script, ...args], {
          env: { ...process.env, ...startProcessEnv(name) },
          stdio: ["ignore", "pipe", "inherit"],
        });
        children[name] = child;
        await new Promise((resolve, reject) => {
          child.once("exit", (code) => reject(new Error(`floor process ${name} exited (${code})`)));
          child.stdout.on("data", (chunk) => String(chunk).includes("floor-process ready") && resolve());
        });
        readyMs[name] = performance.now() - started;
      }),
    );
    const coldStartMs = performance.now() - started;
    const { cpuSeconds, rss, pss, processes } = await idleFootprint((name) => children[name].pid, idleSeconds);
    log(`  footprint floor (Node + PGlite only): idle RSS ${Math.round(sum(rss))} MiB, PSS ${Math.round(sum(pss))} MiB`);
    return { coldStartMs, readyMs, rss, pss, processes, cpuSeconds };
  } finally {
    await Promise.all(Object.values(children).map((child) => stopChild(child)));
  }
}

/**
 * Runs part 5: `repeats` mesh starts on PostgreSQL; `pgliteRepeats` first starts on fresh PGlite
 * directories, each followed by a restart on the directories it left.
 */
export async function runFootprint({ repeats = 2, pgliteRepeats = 1, idleSeconds = 3, log = console.log }) {
  const runs = { postgres: [], pglite: [], "pglite restart": [], "floor: Node + PGlite only": [] };
  for (let i = 0; i < repeats; i++) runs.postgres.push(await once("postgres", idleSeconds, log));
  for (let i = 0; i < pgliteRepeats; i++) {
    const dataDir = await mkdtemp(join(tmpdir(), "shop-bench-pglite-"));
    try {
      runs.pglite.push(await once("pglite", idleSeconds, log, dataDir));
      runs["pglite restart"].push(await once("pglite restart", idleSeconds, log, dataDir));
      runs["floor: Node + PGlite only"].push(await floorOnce(idleSeconds, log, dataDir));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  const results = {};
  for (const [mode, list] of Object.entries(runs)) {
    if (list.length === 0) continue;
    results[mode] = {
      coldStartMs: spread(list.map((r) => r.coldStartMs)),
      readyMs: Object.fromEntries(NAMES.map((name) => [name, spread(list.map((r) => r.readyMs[name]))])),
      rssMiB: Object.fromEntries(NAMES.map((name) => [name, spread(list.map((r) => r.rss[name]))])),
      totalRssMiB: spread(list.map((r) => NAMES.reduce((sum, name) => sum + r.rss[name], 0))),
      totalPssMiB: spread(list.map((r) => NAMES.reduce((sum, name) => sum + r.pss[name], 0))),
      totalCpuSeconds: spread(list.map((r) => NAMES.reduce((sum, name) => sum + r.cpuSeconds[name], 0))),
      processes: list[0].processes,
    };
  }
  const addedEnv =
    Object.entries(startProcessEnv("order"))
      .map(([name, value]) => `${name}=${value}`)
      .join(" ") || "no added environment";
  return {
    title: "Footprint: cold start to all SERVING and idle RSS",
    method: `all five processes spawned at once with the environment and node flags \`npm start\` gives them (${startNodeArgs().join(" ") || "no flags"}; ${addedEnv}; the gateway as one process unless GATEWAY_WORKERS is set; RSS summed over each process tree), ready = every /readyz 200 then grpc.health.v1 Check SERVING on each service; RSS read after ${idleSeconds} s idle; PostgreSQL: a fresh database per service on the local server; PGlite: fresh data directories (first start: one initdb in a child process makes a template that each service copies), then a restart on them; floor = the same five processes with the same flags and environment, each service's opening only its PGlite data directory as the platform does (nothing else of ours: bench/footprint/floor-process.mjs), the gateway's an idle HTTP server`,
    footprint: results,
  };
}
