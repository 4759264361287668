#!/usr/bin/env node
// A closed-loop order placer in its own process: `concurrency` workers each place orders back to
// back (a fresh request_id every time, one unit of a product, tok_visa) for `seconds`, through the
// gateway (Connect JSON over HTTP/1.1 with a bearer token) or straight to the order service (gRPC
// via the platform client over mTLS as the gateway, x-user-id). Prints one JSON line: counts by
// status, latencies, times.
//   node bench/e2e/load.mjs '{"mode":"gateway","target":"http://127.0.0.1:8080","token":"…","user":"u","concurrency":4,"seconds":5,"skus":["SKU-MUG-001"]}'
import { randomUUID } from "node:crypto";
import http from "node:http";
import { quantile } from "../src/stats.mjs";

const spec = JSON.parse(process.argv[2]);
const CONFIRMED = "ORDER_STATUS_CONFIRMED";

async function gatewayPlacer() {
  // One keep-alive connection per closed-loop worker (as h2load or a browser tab would hold), not
  // fetch's pool: at c=1 undici kept two connections and alternated between them, so the gateway's
  // cluster spread one caller's orders over both workers and each woke cold for every other order.
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency, noDelay: true });
  const { hostname, port } = new URL(spec.target);
  const headers = { "content-type": "application/json", authorization: `Bearer ${spec.token}` };
  const placer = (sku) =>
    new Promise((resolve, reject) => {
      const body = Buffer.from(
        JSON.stringify({
          requestId: randomUUID(),
          items: [{ sku, quantity: 1 }],
          cardToken: "tok_visa",
          email: `${spec.user}@example.com`,
        }),
      );
      const request = http.request(
        {
          host: hostname,
          port,
          path: "/shop.order.v1.OrderService/CreateOrder",
          method: "POST",
          agent,
          headers: { ...headers, "content-length": body.byteLength },
        },
        (response) => {
          const chunks = [];
          response.on("data", (chunk) => chunks.push(chunk));
          response.on("error", reject);
          response.on("end", () => {
            try {
              const answer = JSON.parse(Buffer.concat(chunks).toString("utf8"));
              const ok = response.statusCode >= 200 && response.statusCode < 300;
              resolve(ok ? (answer.order?.status ?? "NO_ORDER") : `HTTP_${response.statusCode}_${answer.code ?? ""}`);
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  placer.close = () => agent.destroy();
  return placer;
}

async function directPlacer() {
  const { createClient } = await import("@shop/platform");
  const { OrderService } = await import("@shop/contracts/shop/order/v1/order_service_pb");
  const { OrderStatus } = await import("@shop/contracts/shop/order/v1/order_pb");
  const { meshClientOptions } = await import("../src/mesh-clients.mjs");
  const client = createClient(OrderService, spec.target, await meshClientOptions(spec.certsDir, "gateway", "order"));
  const options = { headers: { "x-user-id": spec.user } };
  const placer = async (sku) => {
    try {
      const { order } = await client.createOrder(
        { requestId: randomUUID(), items: [{ sku, quantity: 1 }], cardToken: "tok_visa", email: `${spec.user}@example.com` },
        options,
      );
      return order?.status === OrderStatus.CONFIRMED ? CONFIRMED : `ORDER_STATUS_${OrderStatus[order?.status ?? 0]}`;
    } catch (error) {
      return `ERROR_${error?.code ?? "?"}`;
    }
  };
  placer.close = () => client.close();
  return placer;
}

const place = spec.mode === "direct" ? await directPlacer() : await gatewayPlacer();
// one warm-up order per worker (connections, JIT), not counted
await Promise.all(Array.from({ length: spec.concurrency }, (_, i) => place(spec.skus[i % spec.skus.length]).catch(() => "warmup-error")));
const statuses = {};
const latencies = [];
const startedAt = Date.now();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const until = t0 + spec.seconds * 1000;
let next = 0;
await Promise.all(
  Array.from({ length: spec.concurrency }, async () => {
    while (performance.now() < until) {
      const sku = spec.skus[next++ % spec.skus.length];
      const begin = performance.now();
      let status;
      try {
        status = await place(sku);
      } catch (error) {
        status = `THROWN_${error?.code ?? error?.name ?? "?"}`;
      }
      latencies.push(performance.now() - begin);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }),
);
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
place.close?.();
const confirmed = statuses[CONFIRMED] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    orders: latencies.length,
    confirmed,
    statuses,
    seconds: elapsed,
    ordersPerSec: confirmed / elapsed,
    p50Ms: quantile(latencies, 0.5),
    p90Ms: quantile(latencies, 0.9),
    p99Ms: quantile(latencies, 0.99),
    maxMs: quantile(latencies, 1),
    // the load process's own CPU per order (user + system), to tell the client's cost from the mesh's
    loadCpuMsPerOrder: latencies.length ? (cpu.user + cpu.system) / 1000 / latencies.length : Number.NaN,
    startedAt,
    endedAt: Date.now(),
  })}\n`,
);
process.exit(0);
