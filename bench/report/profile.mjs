#!/usr/bin/env node
// Profiles the slow side of a comparison with `node --cpu-prof` under the same h2load load the
// benchmark uses, and prints/saves the top self-time frames and packages.
//   node bench/report/profile.mjs gateway [connect-h1|rest-h1|grpc] [seconds] [concurrency]
//   node bench/report/profile.mjs connect|platform|grpc-js [seconds] [concurrency]
// Writes bench/results/profile-<target>.json (summary) and bench/results/profile.md (the latest table).
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCH_SKU, bodyFile, GET_PRODUCT_PATH, grpcFrameFile } from "../src/grpc-frame.mjs";
import { assertGrpcOk } from "../src/grpc-probe.mjs";
import { GRPC_HEADERS, grpcUnaryLoad, h2load } from "../src/h2load.mjs";
import { startMesh } from "../src/mesh.mjs";
import { UNARY_TARGETS } from "../src/unary.mjs";
import { summarize } from "./cpu-profile.mjs";
import { RESULTS_DIR } from "./results-file.mjs";

const [target = "gateway", ...rest] = process.argv.slice(2);
const variant = target === "gateway" && rest[0] && !/^\d/.test(rest[0]) ? rest.shift() : "connect-h1";
const seconds = Number(rest[0] ?? 8);
const concurrency = Number(rest[1] ?? 16);
const dir = mkdtempSync(join(tmpdir(), "shop-bench-prof-"));
// The gateway runs with its default two node:cluster workers (BENCH_GATEWAY_WORKERS to change); each
// worker inherits --cpu-prof, and the table below is the busiest process, with every process's busy time listed.
const gatewayWorkers = process.env.BENCH_GATEWAY_WORKERS ?? "2";
const profArgs = ["--cpu-prof", `--cpu-prof-dir=${dir}`];

let result;
let label;
if (target === "gateway") {
  const mesh = await startMesh({
    db: "postgres",
    names: ["inventory", "gateway"],
    env: {
      GATEWAY_WORKERS: gatewayWorkers,
      GATEWAY_RATE_LIMIT_BURST: "100000000",
      GATEWAY_RATE_LIMIT_PER_SECOND: "100000000",
      LOG_LEVEL: "info",
    },
    nodeArgs: { gateway: profArgs },
  });
  try {
    const requests = {
      "rest-h1": { url: `${mesh.gatewayUrl}/v1/products/${BENCH_SKU}`, h1: true },
      "connect-h1": {
        url: `${mesh.gatewayUrl}${GET_PRODUCT_PATH}`,
        body: bodyFile("get-product.json", JSON.stringify({ sku: BENCH_SKU })),
        headers: ["content-type: application/json"],
        h1: true,
      },
      grpc: {
        url: `${mesh.gatewayUrl}${GET_PRODUCT_PATH}`,
        body: grpcFrameFile(),
        headers: GRPC_HEADERS,
      },
    };
    const request = requests[variant];
    if (!request) throw new Error(`unknown gateway variant ${variant}; one of ${Object.keys(requests).join(", ")}`);
    result = await h2load({ ...request, seconds, concurrency });
  } finally {
    await mesh.stop();
  }
  label = `gateway (${variant}, GATEWAY_WORKERS=${gatewayWorkers})`;
} else {
  const server = await UNARY_TARGETS[target].start({ LOG_LEVEL: "info", NODE_ARGS: profArgs });
  try {
    const frame = grpcFrameFile();
    await assertGrpcOk(target, server.port, GET_PRODUCT_PATH, frame);
    result = await grpcUnaryLoad({ port: server.port, path: GET_PRODUCT_PATH, body: frame })(concurrency, seconds);
  } finally {
    await server.stop();
  }
  label = UNARY_TARGETS[target].label;
}
const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
if (files.length === 0) throw new Error(`no .cpuprofile written in ${dir} (did the process exit cleanly?)`);
// the largest profile is the serving process (the gateway may also leave a tiny one from a helper)
/**
 * Keeps the samples of the profile's last `windowUs` (the load, then the quick SIGTERM drain): start-up
 * (module loading and compiling, ~1-3 s of CPU per process here) would otherwise outweigh a short load.
 */
function loadWindow(profile, windowUs) {
  const dt = profile.timeDeltas ?? [];
  const at = [];
  let t = profile.startTime;
  for (const d of dt) {
    t += d;
    at.push(t);
  }
  const from = profile.endTime - windowUs;
  const keep = at.map((time, i) => (time >= from ? i : -1)).filter((i) => i >= 0);
  return { ...profile, samples: keep.map((i) => profile.samples[i]), timeDeltas: keep.map((i) => dt[i]) };
}
const summaries = files
  .map((f) => join(dir, f))
  .map((file) => ({ file, summary: summarize(loadWindow(JSON.parse(readFileSync(file, "utf8")), (seconds + 1) * 1e6)) }))
  .sort((a, b) => b.summary.totalMs - a.summary.totalMs);
const { file: biggest, summary } = summaries[0];
const perProcess = summaries
  .slice(0, 5)
  .map((s) => `${s.file.split("/").pop()}: busy ${(s.summary.totalMs / 1000).toFixed(2)} s`)
  .join("; ");
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const md = [
  `## CPU profile: ${label}`,
  "",
  `\`node bench/report/profile.mjs ${process.argv.slice(2).join(" ")}\` — node --cpu-prof on the serving process under h2load c=${concurrency} for ${seconds} s (${result.rps.toFixed(0)} req/s while profiled, p99 ${result.p99Ms.toFixed(1)} ms), ${new Date().toISOString()}; profile ${biggest}.`,
  "",
  `Busy ${(summary.totalMs / 1000).toFixed(2)} s, idle ${(summary.idleMs / 1000).toFixed(2)} s; shares below are of busy time in the last (seconds + 1) s of each profile (the load; start-up left out). The busiest profiled processes (of ${summaries.length}): ${perProcess}.`,
  "",
  "Self time by package:",
  "",
  "| origin | self ms | share |",
  "| --- | ---: | ---: |",
  ...summary.origins.map((o) => `| ${o.origin} | ${o.selfMs.toFixed(0)} | ${pct(o.share)} |`),
  "",
  "Top self-time frames:",
  "",
  "| frame | location | self ms | share |",
  "| --- | --- | ---: | ---: |",
  ...summary.frames.map((f) => `| \`${f.name}\` | ${f.location || "–"} | ${f.selfMs.toFixed(0)} | ${pct(f.share)} |`),
  "",
].join("\n");
writeFileSync(
  join(RESULTS_DIR, `profile-${target}${target === "gateway" ? `-${variant}` : ""}.json`),
  `${JSON.stringify({ label, result, profile: biggest, summary }, null, 2)}\n`,
);
writeFileSync(join(RESULTS_DIR, `profile-${target}${target === "gateway" ? `-${variant}` : ""}.md`), md);
console.log(md);
