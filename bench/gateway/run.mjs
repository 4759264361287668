// Part 2: the same GetProduct through the gateway — Connect JSON over HTTP/1.1, REST
// GET /v1/products/{sku} over HTTP/1.1, and gRPC over h2c — vs gRPC straight to the inventory
// service (its own PostgreSQL database, the real handler and store). Same h2load for all.
// Beside each gateway route, the same route through floor-proxy.mjs: the least a Node hop with
// the gateway's process shape can do (bytes passed through for gRPC, protobuf-es transcoding for
// JSON, nothing else), so the run shows how much of the hop is Node's own and how much the gateway's.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BENCH_SKU, bodyFile, GET_PRODUCT_PATH, grpcFrameFile } from "../src/grpc-frame.mjs";
import { assertGrpcOk } from "../src/grpc-probe.mjs";
import { GRPC_HEADERS, h2load } from "../src/h2load.mjs";
import { freePort, startMesh } from "../src/mesh.mjs";
import { processTree, stopChild } from "../src/processes.mjs";
import { sweep } from "../src/sweep.mjs";

const TARGETS = {
  direct: "gRPC h2c direct to inventory (baseline)",
  "gateway-connect-h1": "gateway Connect JSON, HTTP/1.1",
  "gateway-rest-h1": "gateway REST GET /v1/products/{sku}, HTTP/1.1",
  "gateway-grpc": "gateway gRPC h2c (proxied)",
  "floor-connect-h1": "floor: bare Node hop, Connect JSON, HTTP/1.1",
  "floor-rest-h1": "floor: bare Node hop, REST GET /v1/products/{sku}, HTTP/1.1",
  "floor-grpc": "floor: bare Node hop, gRPC h2c (bytes passed through)",
};

/** Starts floor-proxy.mjs in front of `upstream` with `workers` workers; resolves once it listens. */
async function startFloorProxy(upstream, workers) {
  const ports = { h2: await freePort(), h1: await freePort() };
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./floor-proxy.mjs", import.meta.url)), upstream, ports.h2, ports.h1, workers],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("floor proxy did not start in 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`floor proxy exited (${code})`)));
    child.stdout.on("data", (chunk) => {
      if (String(chunk).includes("floor-proxy ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, h2Url: `http://127.0.0.1:${ports.h2}`, h1Url: `http://127.0.0.1:${ports.h1}` };
}

/** Checks that each gateway route answers 200 with the product; returns the JSON bodies' sizes. */
async function probeGateway(gatewayUrl) {
  const connect = await fetch(`${gatewayUrl}${GET_PRODUCT_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sku: BENCH_SKU }),
  });
  const rest = await fetch(`${gatewayUrl}/v1/products/${BENCH_SKU}`);
  const [connectBody, restBody] = [await connect.text(), await rest.text()];
  if (connect.status !== 200 || rest.status !== 200)
    throw new Error(`gateway probe failed: Connect ${connect.status} ${connectBody}; REST ${rest.status} ${restBody}`);
  return { connectJsonBytes: connectBody.length, restJsonBytes: restBody.length };
}

/** Runs part 2: `concurrencies`, `seconds` per point, `repeats`. `perProcessEnv` can add e.g. --cpu-prof. */
export async function runGateway({ seconds, repeats, concurrencies, perProcessEnv = {}, log = console.log }) {
  // Both workers, as the gateway runs by default (GATEWAY_WORKERS=2); BENCH_GATEWAY_WORKERS to change.
  const workers = process.env.BENCH_GATEWAY_WORKERS ?? "2";
  const mesh = await startMesh({
    db: "postgres",
    names: ["inventory", "gateway"],
    // h2load, the load on both sides, cannot present a client certificate: this part compares the
    // hop itself, in plaintext on both sides (MESH_TLS=off). The e2e part runs with mTLS.
    tls: false,
    env: {
      GATEWAY_WORKERS: workers,
      GATEWAY_RATE_LIMIT_BURST: "100000000",
      GATEWAY_RATE_LIMIT_PER_SECOND: "100000000",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
    },
    perProcessEnv,
  });
  let floor;
  try {
    const frame = grpcFrameFile();
    const json = bodyFile("get-product.json", JSON.stringify({ sku: BENCH_SKU }));
    const inventory = mesh.processes.inventory;
    const gateway = mesh.processes.gateway;
    const grpcBytes = await assertGrpcOk("inventory", inventory.port, GET_PRODUCT_PATH, frame);
    await assertGrpcOk("gateway gRPC", gateway.port, GET_PRODUCT_PATH, frame);
    const sizes = await probeGateway(mesh.gatewayUrl);
    floor = await startFloorProxy(`127.0.0.1:${inventory.port}`, workers);
    await assertGrpcOk("floor gRPC", new URL(floor.h2Url).port, GET_PRODUCT_PATH, frame);
    const floorSizes = await probeGateway(floor.h1Url);
    log(`  gateway: probes ok, gRPC ${grpcBytes} bytes, ${JSON.stringify(sizes)}; floor ${JSON.stringify(floorSizes)}`);
    const hop = (id) => (id.startsWith("floor-") ? floor.child.pid : gateway.child.pid);
    const serverPids = (id) => (id === "direct" ? [inventory.child.pid] : [...processTree(hop(id)), inventory.child.pid]);
    const requests = {
      direct: { url: `http://127.0.0.1:${inventory.port}${GET_PRODUCT_PATH}`, body: frame, headers: GRPC_HEADERS },
      "gateway-grpc": { url: `${mesh.gatewayUrl}${GET_PRODUCT_PATH}`, body: frame, headers: GRPC_HEADERS },
      "gateway-connect-h1": {
        url: `${mesh.gatewayUrl}${GET_PRODUCT_PATH}`,
        body: json,
        headers: ["content-type: application/json"],
        h1: true,
      },
      "gateway-rest-h1": { url: `${mesh.gatewayUrl}/v1/products/${BENCH_SKU}`, h1: true },
      "floor-grpc": { url: `${floor.h2Url}${GET_PRODUCT_PATH}`, body: frame, headers: GRPC_HEADERS },
      "floor-connect-h1": {
        url: `${floor.h1Url}${GET_PRODUCT_PATH}`,
        body: json,
        headers: ["content-type: application/json"],
        h1: true,
      },
      "floor-rest-h1": { url: `${floor.h1Url}/v1/products/${BENCH_SKU}`, h1: true },
    };
    const ids = ["direct", "gateway-connect-h1", "gateway-rest-h1", "gateway-grpc", "floor-connect-h1", "floor-rest-h1", "floor-grpc"];
    const load = (id, concurrency, secs) => h2load({ ...requests[id], seconds: secs, concurrency, pids: serverPids(id) });
    const series = await sweep({ ids, concurrencies, repeats, seconds, load, log: (m) => log(`  gateway: ${m}`) });
    return {
      title: "Gateway: GetProduct as Connect JSON / REST / gRPC through the gateway vs direct gRPC",
      method: `inventory service with its own PostgreSQL database (real handler and store) and the gateway (GATEWAY_WORKERS=${workers}, rate limit lifted, LOG_LEVEL ${process.env.BENCH_LOG_LEVEL ?? "info"}) as processes, in plaintext (MESH_TLS=off: h2load cannot present a client certificate); h2load one thread, HTTP/1.1 = one connection per in-flight request, h2c = up to 4 connections; ${seconds} s per point, ${repeats} interleaved repeats; server CPU = gateway (or floor proxy) + inventory processes (PostgreSQL not counted); floor = bench/gateway/floor-proxy.mjs, a node:cluster of the same ${workers} workers with one pooled HTTP/2 session each to inventory, passing gRPC through as bytes and transcoding JSON with protobuf-es, nothing else (no token, rate limit, deadline, validation, logging, metrics, tracing)`,
      series: series.map((s) => ({ ...s, label: TARGETS[s.id] })),
      comparisons: [
        ...ids.filter((id) => id !== "direct").map((id) => ({ subject: id, baseline: "direct" })),
        // What the gateway adds over the floor, route by route.
        ...["connect-h1", "rest-h1", "grpc"].map((route) => ({ subject: `gateway-${route}`, baseline: `floor-${route}` })),
      ],
    };
  } finally {
    if (floor) await stopChild(floor.child);
    await mesh.stop();
  }
}
