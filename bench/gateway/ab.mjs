#!/usr/bin/env node
// A/B of two gateway configurations in one run: one inventory service (own PostgreSQL database),
// gateway A with the `a` environment and gateway B with the `b` environment, both in front of that
// inventory; GetProduct as Connect JSON (HTTP/1.1), REST (HTTP/1.1) and gRPC (h2c) through each,
// beside gRPC straight to inventory, interleaved by the same sweep as the gateway part.
//   node bench/gateway/ab.mjs 'GATEWAY_LEAN_UNARY=off' '' [seconds=3] [repeats=2] [concurrency=64]
// A side's `@main=<path>` runs that gateway build instead (e.g. one built from another commit:
// `git archive <commit> gateway tsconfig.base.json | tar -x -C /tmp/x`, then tsc there against this tree's packages).
// Server CPU per request = that gateway's process tree + inventory (PostgreSQL not counted).
import { loadavg } from "node:os";
import { BENCH_SKU, bodyFile, GET_PRODUCT_PATH, grpcFrameFile } from "../src/grpc-frame.mjs";
import { assertGrpcOk } from "../src/grpc-probe.mjs";
import { GRPC_HEADERS, h2load } from "../src/h2load.mjs";
import { startMesh } from "../src/mesh.mjs";
import { processTree } from "../src/processes.mjs";
import { sweep } from "../src/sweep.mjs";

const parseEnv = (text) =>
  Object.fromEntries(
    (text ?? "")
      .split(",")
      .filter(Boolean)
      .map((kv) => kv.split("=")),
  );
const [aText, bText, secondsText, repeatsText, concurrencyText] = process.argv.slice(2);
/** The side's environment, and node arguments that run another gateway build (`@main`) if given. */
function side(text) {
  const { "@main": main, ...env } = parseEnv(text);
  return main ? { env: { ...env, GATEWAY_WEB_ROOT: `${process.cwd()}/web/dist` }, nodeArgs: [main] } : { env, nodeArgs: [] };
}
const a = side(aText);
const b = side(bText);
const seconds = Number(secondsText ?? 3);
const repeats = Number(repeatsText ?? 2);
const concurrencies = (concurrencyText ?? "64").split(",").map(Number);
const common = {
  GATEWAY_WORKERS: process.env.BENCH_GATEWAY_WORKERS ?? "2",
  GATEWAY_RATE_LIMIT_BURST: "100000000",
  GATEWAY_RATE_LIMIT_PER_SECOND: "100000000",
  LOG_LEVEL: "info",
};
const load0 = loadavg();
const meshA = await startMesh({
  db: "postgres",
  names: ["inventory", "gateway"],
  tls: false,
  env: common,
  perProcessEnv: { gateway: a.env },
  nodeArgs: { gateway: a.nodeArgs },
});
let meshB;
try {
  meshB = await startMesh({
    db: "postgres",
    names: ["gateway"],
    tls: false,
    env: { ...common, INVENTORY_URL: meshA.address("inventory") },
    perProcessEnv: { gateway: b.env },
    nodeArgs: { gateway: b.nodeArgs },
  });
  const inventory = meshA.processes.inventory;
  const frame = grpcFrameFile();
  const json = bodyFile("get-product.json", JSON.stringify({ sku: BENCH_SKU }));
  const requests = { direct: { url: `http://127.0.0.1:${inventory.port}${GET_PRODUCT_PATH}`, body: frame, headers: GRPC_HEADERS } };
  const pids = { direct: () => [inventory.child.pid] };
  for (const [side, mesh] of [
    ["A", meshA],
    ["B", meshB],
  ]) {
    const gw = mesh.processes.gateway;
    await assertGrpcOk(`gateway ${side}`, gw.port, GET_PRODUCT_PATH, frame);
    requests[`${side}-connect-h1`] = {
      url: `${mesh.gatewayUrl}${GET_PRODUCT_PATH}`,
      body: json,
      headers: ["content-type: application/json"],
      h1: true,
    };
    requests[`${side}-rest-h1`] = { url: `${mesh.gatewayUrl}/v1/products/${BENCH_SKU}`, h1: true };
    requests[`${side}-grpc`] = { url: `${mesh.gatewayUrl}${GET_PRODUCT_PATH}`, body: frame, headers: GRPC_HEADERS };
    for (const kind of ["connect-h1", "rest-h1", "grpc"])
      pids[`${side}-${kind}`] = () => [...processTree(gw.child.pid), inventory.child.pid];
  }
  const ids = ["direct", "A-connect-h1", "B-connect-h1", "A-rest-h1", "B-rest-h1", "A-grpc", "B-grpc"];
  const series = await sweep({
    ids,
    concurrencies,
    repeats,
    seconds,
    load: (id, concurrency, secs) => h2load({ ...requests[id], seconds: secs, concurrency, pids: pids[id]() }),
    log: (m) => console.log(`  ${m}`),
  });
  console.log(
    `A = ${JSON.stringify(a)}, B = ${JSON.stringify(b)}, ${JSON.stringify(common)}; load average ${load0.map((x) => x.toFixed(2)).join(" ")} -> ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  console.log("| target | c | req/s (median) | × direct | server CPU µs/req | p50 ms |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  const direct = Object.fromEntries(series[0].points.map((p) => [p.concurrency, p.rps.median]));
  for (const s of series) {
    for (const p of s.points) {
      console.log(
        `| ${s.id} | ${p.concurrency} | ${p.rps.median.toFixed(0)} | ${(p.rps.median / direct[p.concurrency]).toFixed(2)} | ${p.cpuUsPerRequest.median.toFixed(0)} | ${p.p50Ms.median.toFixed(1)} |`,
      );
    }
  }
} finally {
  await meshB?.stop();
  await meshA.stop();
}
