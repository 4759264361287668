// The shared rate limit's cost through the whole gateway: GetProduct over gRPC (h2c) and Connect JSON
// (HTTP/1.1) into a two-worker gateway whose limiter counts in the primary (RateLimiterCluster, as
// shipped) or in each worker (RateLimiterMemory: the same build with that one choice flipped, in a
// copy of gateway/dist), and into one worker (RateLimiterMemory, as shipped for GATEWAY_WORKERS=1).
// The upstream is a stub (raw node:http2) so the gateway is what is measured.
// h2load as in bench/ (one thread, timed); rate limit lifted; rounds interleaved, medians reported.
// Needs the built gateway (npx tsc -b) and /usr/bin/h2load.
// Usage: node gateway/bench/shared-rate-limit-e2e.mjs [seconds per point, default 5] [rounds, default 3]
import { spawn } from "node:child_process";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http2";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { GetProductResponseSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { bodyFile, GET_PRODUCT_PATH, grpcFrameFile } from "../../bench/src/grpc-frame.mjs";
import { h2load } from "../../bench/src/h2load.mjs";
import { processTree, stopChild } from "../../bench/src/processes.mjs";

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
const gatewayDir = fileURLToPath(new URL("..", import.meta.url));

/** A copy of the built gateway whose workers count in-process: the one line that picks the store, flipped. */
function perWorkerBuild() {
  const dir = `${gatewayDir}.bench-per-worker-dist`;
  rmSync(dir, { recursive: true, force: true });
  cpSync(`${gatewayDir}dist`, dir, { recursive: true });
  const file = `${dir}/cluster/worker.js`;
  const source = readFileSync(file, "utf8");
  const choice = 'rateLimitStore: cluster.isWorker ? "cluster" : "process"';
  if (!source.includes(choice)) throw new Error(`${file} no longer contains ${choice}`);
  writeFileSync(file, source.replace(choice, 'rateLimitStore: "process"'));
  return dir;
}

/** The stub upstream: every GetProduct answered with one product. */
async function startStub() {
  const message = toBinary(GetProductResponseSchema, create(GetProductResponseSchema, { product: { sku: "SKU-1", name: "Stub" } }));
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1); // gRPC frame: uncompressed flag, length, message
  body.set(message, 5);
  const server = createServer();
  server.on("stream", (stream) => {
    stream.on("error", () => undefined);
    stream.resume();
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { target: `127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** Starts `node <dist>/main.js` with `workers`; resolves with its port and pid once it listens. */
async function startGateway({ dist, workers }, inventory) {
  const child = spawn(process.execPath, [`${dist}/main.js`], {
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      GATEWAY_PORT: "0",
      GATEWAY_ADMIN_PORT: "0",
      GATEWAY_WORKERS: String(workers),
      INVENTORY_URL: inventory,
      GATEWAY_RATE_LIMIT_BURST: "100000000",
      GATEWAY_RATE_LIMIT_PER_SECOND: "100000000",
      LOG_LEVEL: "info",
      OTEL_TRACES_EXPORTER: "none",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.includes('"event":"listening"')) resolve(JSON.parse(line).port);
    });
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // the other workers
  return { port, pid: child.pid, stop: () => stopChild(child) };
}

const perWorker = perWorkerBuild();
const variants = {
  "2 workers, per-worker counters": { dist: perWorker, workers: 2 },
  "2 workers, shared (as shipped)": { dist: `${gatewayDir}dist`, workers: 2 },
  "1 worker, in-process (as shipped)": { dist: `${gatewayDir}dist`, workers: 1 },
};
const frame = grpcFrameFile("SKU-1");
const json = bodyFile("get-product.json", JSON.stringify({ sku: "SKU-1" }));
const url = (port) => `http://127.0.0.1:${port}${GET_PRODUCT_PATH}`;
const loads = {
  "gRPC h2c, 1 in flight": (port) => ({
    url: url(port),
    body: frame,
    headers: ["content-type: application/grpc", "te: trailers"],
    concurrency: 1,
  }),
  "gRPC h2c, 64 in flight": (port) => ({
    url: url(port),
    body: frame,
    headers: ["content-type: application/grpc", "te: trailers"],
    concurrency: 64,
  }),
  "Connect JSON HTTP/1.1, 16 in flight": (port) => ({
    url: url(port),
    body: json,
    headers: ["content-type: application/json"],
    h1: true,
    concurrency: 16,
  }),
};
const stub = await startStub();
const results = [];
try {
  for (let round = 0; round < rounds; round++) {
    // Alternate which variant goes first, so neither always runs on a machine the other just warmed.
    const order = round % 2 === 0 ? Object.entries(variants) : Object.entries(variants).reverse();
    for (const [variant, setup] of order) {
      const gateway = await startGateway(setup, stub.target);
      try {
        for (const [load, request] of Object.entries(loads)) {
          await h2load({ ...request(gateway.port), seconds: 1, pids: [] }); // warm-up
          const result = await h2load({ ...request(gateway.port), seconds, pids: processTree(gateway.pid) });
          results.push({ variant, load, ...result });
          console.error(
            `round ${round + 1} ${variant} ${load}: ${result.rps.toFixed(0)} req/s, ${result.cpuUsPerRequest.toFixed(0)} µs CPU`,
          );
        }
      } finally {
        await gateway.stop();
      }
    }
  }
} finally {
  stub.close();
  rmSync(perWorker, { recursive: true, force: true });
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`stub upstream, ${seconds} s per point, median of ${rounds} interleaved rounds`);
for (const load of Object.keys(loads)) {
  for (const variant of Object.keys(variants)) {
    const points = results.filter((r) => r.load === load && r.variant === variant);
    const rps = median(points.map((p) => p.rps));
    const cpu = median(points.map((p) => p.cpuUsPerRequest));
    const p50 = median(points.map((p) => p.p50Ms));
    const columns = [
      load.padEnd(36),
      variant.padEnd(33),
      `${rps.toFixed(0).padStart(6)} req/s`,
      `${cpu.toFixed(0).padStart(5)} µs CPU/req`,
    ];
    console.log(`${columns.join("  ")}  p50 ${p50.toFixed(2)} ms`);
  }
}
