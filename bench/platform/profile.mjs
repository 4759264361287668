// CPU profile of one server target of bench/platform/server.mjs during one h2load run (start-up and
// warm-up left out: the server profiles between two SIGUSR2), printed (not saved to bench/results): top self-time frames, self time by package, and the inclusive ("total") time of
// the frames whose name matches --match, per call.
//   node bench/platform/profile.mjs platform [--c=16] [--seconds=6] [--match=validate|check]
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { summarize } from "../report/cpu-profile.mjs";
import { GET_PRODUCT_PATH, grpcFrameFile } from "../src/grpc-frame.mjs";
import { grpcUnaryLoad } from "../src/h2load.mjs";
import { startPortServer } from "../src/processes.mjs";

const SERVER = fileURLToPath(new URL("./server.mjs", import.meta.url));
const flag = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
const [target = "platform"] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const [kind, dist] = target.split("@");
const concurrency = Number(flag("c", 16));
const seconds = Number(flag("seconds", 6));
const match = new RegExp(flag("match", "^$"));
const dir = mkdtempSync(join(tmpdir(), "platform-prof-"));
const server = await startPortServer(SERVER, [kind], {
  LOG_LEVEL: "info",
  CPU_PROFILE: join(dir, "load.cpuprofile"),
  ...(dist ? { PLATFORM_DIST: resolve(dist) } : {}),
});
let result;
try {
  const unary = grpcUnaryLoad({ port: server.port, path: GET_PRODUCT_PATH, body: grpcFrameFile(), pids: [server.child.pid] });
  const load = (secs) => unary(concurrency, secs);
  await load(2);
  server.child.kill("SIGUSR2");
  await sleep(300);
  result = await load(seconds);
  server.child.kill("SIGUSR2");
  for (let i = 0; i < 100 && !existsSync(join(dir, "load.cpuprofile")); i++) await sleep(100);
  await sleep(500);
} finally {
  await server.stop();
}
const file = join(dir, "load.cpuprofile");
const profile = JSON.parse(readFileSync(file, "utf8"));
const summary = summarize(profile, 40);
console.log(
  `${target} c=${concurrency}: ${result.rps.toFixed(0)} req/s, ${result.cpuUsPerRequest.toFixed(1)} µs CPU/call; profile ${file}`,
);
console.log(`busy ${(summary.totalMs / 1000).toFixed(2)} s, idle ${(summary.idleMs / 1000).toFixed(2)} s`);
for (const o of summary.origins)
  console.log(`  ${o.origin.padEnd(40)} ${o.selfMs.toFixed(0).padStart(6)} ms ${(o.share * 100).toFixed(1)}%`);
for (const f of summary.frames)
  console.log(
    `  ${f.name.slice(0, 40).padEnd(40)} ${f.location.slice(-60).padEnd(60)} ${f.selfMs.toFixed(0).padStart(6)} ms ${(f.share * 100).toFixed(1)}%`,
  );
// Inclusive time of matching frames (outermost match only, so recursion is not counted twice).
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map();
for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
const totals = new Map();
for (const [id, us] of selfUs) {
  let outer;
  for (let at = id; at !== undefined; at = parent.get(at)) if (match.test(byId.get(at).callFrame.functionName)) outer = at;
  if (outer === undefined) continue;
  const cf = byId.get(outer).callFrame;
  const key = `${cf.functionName} ${cf.url.replace(/.*node_modules\//, "").replace(/.*\/packages\//, "")}:${cf.lineNumber + 1}`;
  totals.set(key, (totals.get(key) ?? 0) + us);
}
const calls = result.requests;
for (const [key, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, 20))
  console.log(`  total ${key.padEnd(90)} ${(us / 1000).toFixed(0).padStart(6)} ms  ${(us / calls).toFixed(1)} µs/call`);
const busyUs = summary.totalMs * 1000;
console.log(`busy ${(busyUs / calls).toFixed(1)} µs/call in the profile (${calls} calls)`);
for (const o of summary.origins) console.log(`  ${o.origin.padEnd(40)} ${((o.selfMs * 1000) / calls).toFixed(1).padStart(6)} µs/call`);
