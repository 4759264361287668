// Interleaved A/B of server targets of bench/platform/server.mjs (for one change at a time):
// a fresh process per target per trial, h2load rounds interleaved, medians of server CPU µs per call.
//   node bench/platform/ab.mjs <target[@dist]>... [--c=1,64] [--seconds=2] [--trials=3] [--rounds=2]
// `target@dir` runs the target with the platform loaded from `dir` (a copy of an earlier
// packages/platform/dist, e.g. packages/platform/node_modules/.ab-base, so its imports resolve):
//   cp -r packages/platform/dist packages/platform/node_modules/.ab-base   # before the change
//   npx tsc -b packages/platform && node bench/platform/ab.mjs platform@packages/platform/node_modules/.ab-base platform
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GET_PRODUCT_PATH, grpcFrameFile } from "../src/grpc-frame.mjs";
import { grpcUnaryLoad } from "../src/h2load.mjs";
import { startPortServer } from "../src/processes.mjs";
import { spread } from "../src/stats.mjs";

const SERVER = fileURLToPath(new URL("./server.mjs", import.meta.url));
const flag = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const targets = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const concurrencies = flag("c", "1,64").split(",").map(Number);
const seconds = Number(flag("seconds", 2));
const trials = Number(flag("trials", 3));
const rounds = Number(flag("rounds", 2));
const frame = grpcFrameFile();

const start = (target) => {
  const [kind, dist] = target.split("@");
  return startPortServer(SERVER, [kind], { LOG_LEVEL: "info", ...(dist ? { PLATFORM_DIST: resolve(dist) } : {}) });
};
const samples = Object.fromEntries(targets.map((t) => [t, Object.fromEntries(concurrencies.map((c) => [c, []]))]));
const load0 = loadavg()[0];
for (let trial = 0; trial < trials; trial++) {
  const servers = {};
  try {
    for (const t of targets) servers[t] = await start(t);
    const load = (t, concurrency, secs) =>
      grpcUnaryLoad({ port: servers[t].port, path: GET_PRODUCT_PATH, body: frame, pids: [servers[t].child.pid] })(concurrency, secs);
    for (const t of targets) await load(t, 16, 1);
    for (let round = 0; round < rounds; round++)
      for (const c of concurrencies) for (const t of targets) samples[t][c].push(await load(t, c, seconds));
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
  process.stderr.write(`trial ${trial + 1}/${trials} done\n`);
}
console.log(
  `A/B ${GET_PRODUCT_PATH}: ${trials} trials x ${rounds} rounds x ${seconds} s, load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`,
);
for (const c of concurrencies) {
  const base = spread(samples[targets[0]][c].map((r) => r.cpuUsPerRequest)).median;
  for (const t of targets) {
    const cpu = spread(samples[t][c].map((r) => r.cpuUsPerRequest));
    const rps = spread(samples[t][c].map((r) => r.rps)).median;
    console.log(
      `c=${String(c).padEnd(4)} ${t.padEnd(60)} ${cpu.median.toFixed(1).padStart(7)} µs CPU/call (min ${cpu.min.toFixed(1)}, max ${cpu.max.toFixed(1)}) ${(cpu.median / base).toFixed(3)}×   ${rps.toFixed(0)} req/s`,
    );
  }
}
