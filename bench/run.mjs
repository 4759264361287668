#!/usr/bin/env node
// `npm run bench` (builds first) or `node bench/run.mjs [part ...]` after `npm run build`.
// Parts: platform (unary RPC), tls, gateway, e2e, runtime (platform and e2e under two Node binaries), messaging,
// footprint; default all, in that order.
// Each measurement runs beside its baseline in the same run; results are merged into
// bench/results/latest.json (a part not run keeps its previous numbers and date), then
// bench/results/latest.md, bench/results/latency.svg and the table in bench/README.md are rewritten.
// Config (env): BENCH_SECONDS per point (3), BENCH_REPEATS (3), BENCH_CONCURRENCY (1,16,64,256),
// BENCH_GATEWAY_CONCURRENCY (1,16,64), BENCH_E2E_CONCURRENCY (1,4,16), BENCH_E2E_SECONDS (5), BENCH_E2E_WARMUP_SECONDS (10),
// BENCH_FOOTPRINT_REPEATS (2), BENCH_PGLITE_REPEATS (1), BENCH_UNARY_TARGETS (platform,platform-unvalidated,platform-propagating,connect,grpc-js),
// BENCH_NODE_BINARIES (runtime: the node on PATH outside node_modules and node_modules/.bin/node), BENCH_RUNTIME_PARTS
// (platform,e2e), BENCH_RUNTIME_UNARY_TARGETS (platform,platform-propagating,grpc-js), BENCH_RUNTIME_REPEATS (2).
import { loadavg } from "node:os";
import { readLatest, writeLatest } from "./report/results-file.mjs";
import { writeReport } from "./report/write-report.mjs";
import { machineInfo } from "./src/machine.mjs";

const ALL = ["platform", "tls", "gateway", "e2e", "runtime", "messaging", "footprint"];
const requested = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = requested.filter((p) => !ALL.includes(p));
if (unknown.length > 0) {
  console.error(`unknown part(s): ${unknown.join(", ")}; parts are ${ALL.join(", ")}`);
  process.exit(2);
}
const parts = requested.length > 0 ? ALL.filter((p) => requested.includes(p)) : ALL;
const list = (value, fallback) =>
  (value ?? fallback)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const config = {
  seconds: Number(process.env.BENCH_SECONDS ?? 3),
  repeats: Number(process.env.BENCH_REPEATS ?? 3),
  concurrencies: list(process.env.BENCH_CONCURRENCY, "1,16,64,256").map(Number),
  unaryTargets: list(process.env.BENCH_UNARY_TARGETS, "platform,platform-unvalidated,platform-propagating,connect,grpc-js"),
  gatewayConcurrencies: list(process.env.BENCH_GATEWAY_CONCURRENCY, "1,16,64").map(Number),
  tlsConcurrencies: list(process.env.BENCH_TLS_CONCURRENCY, "1,64").map(Number),
  e2eConcurrencies: list(process.env.BENCH_E2E_CONCURRENCY, "1,4,16").map(Number),
  e2eSeconds: Number(process.env.BENCH_E2E_SECONDS ?? 5),
  e2eWarmupSeconds: Number(process.env.BENCH_E2E_WARMUP_SECONDS ?? 10),
  footprintRepeats: Number(process.env.BENCH_FOOTPRINT_REPEATS ?? 2),
  pgliteRepeats: Number(process.env.BENCH_PGLITE_REPEATS ?? 1),
  runtimeParts: list(process.env.BENCH_RUNTIME_PARTS, "platform,e2e"),
  runtimeUnaryTargets: list(process.env.BENCH_RUNTIME_UNARY_TARGETS, "platform,platform-propagating,grpc-js"),
  runtimeRepeats: Number(process.env.BENCH_RUNTIME_REPEATS ?? Math.min(Number(process.env.BENCH_REPEATS ?? 3), 2)),
};

const RUNNERS = {
  platform: async () => (await import("./src/unary.mjs")).runUnary({ ...config, targets: config.unaryTargets }),
  tls: async () =>
    (await import("./tls/run.mjs")).runTls({ seconds: config.seconds, repeats: config.repeats, concurrencies: config.tlsConcurrencies }),
  gateway: async () => (await import("./gateway/run.mjs")).runGateway({ ...config, concurrencies: config.gatewayConcurrencies }),
  e2e: async () =>
    (await import("./e2e/run.mjs")).runEndToEnd({
      concurrencies: config.e2eConcurrencies,
      seconds: config.e2eSeconds,
      warmupSeconds: config.e2eWarmupSeconds,
      repeats: Math.min(config.repeats, 2),
      floor: true,
    }),
  runtime: async () => {
    const options = {
      platform: { seconds: config.seconds, concurrencies: config.concurrencies, targets: config.runtimeUnaryTargets },
      e2e: { concurrencies: config.e2eConcurrencies, seconds: config.e2eSeconds, warmupSeconds: config.e2eWarmupSeconds },
    };
    const unknown = config.runtimeParts.filter((part) => !options[part]);
    if (unknown.length > 0) throw new Error(`BENCH_RUNTIME_PARTS: unknown ${unknown.join(", ")}; runtime runs platform, e2e`);
    const parts = Object.fromEntries(config.runtimeParts.map((part) => [part, options[part]]));
    return (await import("./runtime/run.mjs")).runRuntime({ parts, repeats: config.runtimeRepeats });
  },
  messaging: async () => (await import("./src/messaging.mjs")).runMessaging({ repeats: Math.min(config.repeats, 2) }),
  footprint: async () =>
    (await import("./footprint/run.mjs")).runFootprint({ repeats: config.footprintRepeats, pgliteRepeats: config.pgliteRepeats }),
};

const latest = readLatest();
const machine = machineInfo();
const command = `node bench/run.mjs${requested.length ? ` ${requested.join(" ")}` : ""}`;
const began = Date.now();
const failures = [];
console.log(`bench: parts ${parts.join(", ")}; ${JSON.stringify(config)}; load average ${machine.loadAverageAtStart.join(" ")}`);
for (const part of parts) {
  const t0 = Date.now();
  console.log(`bench: ${part} …`);
  try {
    const result = await RUNNERS[part]();
    if (result === null) {
      console.log(`bench: ${part} skipped (keeps its previous numbers)`);
      continue;
    }
    latest.parts[part] = {
      ...result,
      measuredAt: new Date().toISOString(),
      durationSeconds: (Date.now() - t0) / 1000,
      machine: { ...machine, loadAverageAtEnd: loadavg().map((v) => Number(v.toFixed(2))) },
      command,
      config,
    };
    console.log(`bench: ${part} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } catch (error) {
    failures.push(part);
    console.error(`bench: ${part} FAILED: ${error?.stack ?? error}`);
  }
}
latest.generatedAt = new Date().toISOString();
latest.machine = machine;
latest.lastCommand = command;
latest.lastRunSeconds = (Date.now() - began) / 1000;
writeLatest(latest);
const written = writeReport(latest);
console.log(`bench: wrote ${written.join(", ")} in ${((Date.now() - began) / 1000).toFixed(0)} s total`);
if (failures.length > 0) {
  console.error(`bench: failed parts: ${failures.join(", ")}`);
  process.exitCode = 1;
}
