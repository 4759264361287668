// Benchmark: unary GetProduct through the platform (all interceptors on) vs a bare grpc-js server
// vs a raw node:http2 responder, same message, same load generator (h2load), printed as ratios.
// Usage: node bench/platform/run.mjs [--quick]   (build first: npx tsc -b packages/platform)
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetProductRequestSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { cpuSeconds, startPortServer } from "../src/processes.mjs";

const run = promisify(execFile);
const quick = process.argv.includes("--quick");
const SERVER = new URL("./server.mjs", import.meta.url).pathname;
const PATH = "/shop.inventory.v1.InventoryService/GetProduct";
const H2LOAD = process.env.H2LOAD ?? "/usr/bin/h2load";

const LOADS = [
  { name: "4 conn x 16 streams", connections: 4, streams: 16, requests: quick ? 20_000 : 100_000 },
  { name: "1 conn x 1 stream", connections: 1, streams: 1, requests: quick ? 3_000 : 15_000 },
];
const TARGETS = ["platform", "grpc-js", "http2"];

/** The request as a gRPC frame: flag byte, big-endian length, message. */
function requestFrameFile() {
  const message = toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku: "SKU-MUG-001" }));
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  const file = join(mkdtempSync(join(tmpdir(), "platform-bench-")), "get-product.grpc");
  writeFileSync(file, frame);
  return file;
}

function startTarget(kind) {
  return startPortServer(SERVER, [kind], { LOG_LEVEL: process.env.LOG_LEVEL ?? "info", HANDLE_SIGNALS: "true" });
}

async function h2load(port, file, load, pid) {
  const cpuBefore = pid ? cpuSeconds(pid) : 0;
  const args = [
    "-n", String(load.requests), "-c", String(load.connections), "-m", String(load.streams), "-t", "1",
    "-d", file, "-H", "content-type: application/grpc", "-H", "te: trailers",
    `http://127.0.0.1:${port}${PATH}`,
  ];
  const { stdout } = await run(H2LOAD, args, { maxBuffer: 16 * 1024 * 1024 });
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout)?.[1]);
  const ok = Number(/status codes: (\d+) 2xx/.exec(stdout)?.[1]);
  const failed = Number(/requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed/.exec(stdout)?.[1]);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(stdout)?.[1];
  if (!Number.isFinite(rps) || failed > 0 || ok !== load.requests) {
    throw new Error(`h2load run failed or incomplete:\n${stdout}`);
  }
  const cpuUsPerCall = pid ? ((cpuSeconds(pid) - cpuBefore) * 1e6) / load.requests : NaN;
  return { rps, mean, cpuUsPerCall };
}

const ROUNDS = quick ? 1 : 3;
const file = requestFrameFile();
const targets = {};
for (const kind of TARGETS) targets[kind] = await startTarget(kind);
const samples = Object.fromEntries(TARGETS.map((kind) => [kind, Object.fromEntries(LOADS.map((l) => [l.name, []]))]));
try {
  // Warm-up: JIT, connection handling, metric label children.
  for (const kind of TARGETS) await h2load(targets[kind].port, file, { connections: 4, streams: 16, requests: quick ? 5_000 : 20_000 });
  // Interleaved rounds, so a noisy neighbour on this small machine hits every target alike; median kept.
  for (let round = 0; round < ROUNDS; round++) {
    for (const load of LOADS) {
      for (const kind of TARGETS) samples[kind][load.name].push(await h2load(targets[kind].port, file, load, targets[kind].child.pid));
    }
  }
} finally {
  await Promise.all(Object.values(targets).map((target) => target.stop()));
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = Object.fromEntries(
  TARGETS.map((kind) => [
    kind,
    Object.fromEntries(
      LOADS.map((l) => {
        const runs = samples[kind][l.name];
        return [l.name, { rps: median(runs.map((r) => r.rps)), cpu: median(runs.map((r) => r.cpuUsPerCall)), mean: runs[0].mean }];
      }),
    ),
  ]),
);

console.log(`\nunary ${PATH}, h2load, median of ${ROUNDS} interleaved round(s), LOG_LEVEL=${process.env.LOG_LEVEL ?? "info"}\n`);
for (const load of LOADS) {
  const p = results.platform[load.name];
  const g = results["grpc-js"][load.name];
  const h = results.http2[load.name];
  console.log(`${load.name} (${load.requests} requests)`);
  console.log(`  platform (all interceptors)  ${p.rps.toFixed(0).padStart(7)} req/s   ${p.cpu.toFixed(1).padStart(6)} us CPU/call   runs ${samples.platform[load.name].map((r) => r.rps.toFixed(0)).join(", ")}`);
  console.log(`  bare grpc-js                 ${g.rps.toFixed(0).padStart(7)} req/s   ${g.cpu.toFixed(1).padStart(6)} us CPU/call   runs ${samples["grpc-js"][load.name].map((r) => r.rps.toFixed(0)).join(", ")}`);
  console.log(`  raw node:http2               ${h.rps.toFixed(0).padStart(7)} req/s   ${h.cpu.toFixed(1).padStart(6)} us CPU/call   runs ${samples.http2[load.name].map((r) => r.rps.toFixed(0)).join(", ")}`);
  console.log(`  platform / grpc-js = ${(p.rps / g.rps).toFixed(3)}   (target >= 0.85)`);
  console.log(`  same, from server CPU per call (robust to a noisy machine) = ${(g.cpu / p.cpu).toFixed(3)}`);
  console.log(`  grpc-js / http2    = ${(g.rps / h.rps).toFixed(3)}`);
  console.log(`  platform / http2   = ${(p.rps / h.rps).toFixed(3)}\n`);
}
