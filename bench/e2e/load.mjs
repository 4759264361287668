#!/usr/bin/env node
// A closed-loop order placer in its own process: `concurrency` workers each place orders back to
// back (a fresh request_id every time, one unit of a product, tok_visa) for `seconds`, through the
// gateway (Connect JSON over HTTP/1.1 with a bearer token) or straight to the order service (gRPC
// via the platform client over mTLS as the gateway, x-user-id). Prints one JSON line: counts by
// status, latencies, times.
//   node bench/e2e/load.mjs '{"mode":"gateway","target":"http://127.0.0.1:8080","token":"…","user":"u","concurrency":4,"seconds":5,"skus":["SKU-MUG-001"]}'
import { randomUUID } from "node:crypto";
import { quantile } from "../src/stats.mjs";

const spec = JSON.parse(process.argv[2]);
const CONFIRMED = "ORDER_STATUS_CONFIRMED";

async function gatewayPlacer() {
  const url = `${spec.target}/shop.order.v1.OrderService/CreateOrder`;
  const headers = { "content-type": "application/json", authorization: `Bearer ${spec.token}` };
  return async (sku) => {
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({
        requestId: randomUUID(),
        items: [{ sku, quantity: 1 }],
        cardToken: "tok_visa",
        email: `${spec.user}@example.com`,
      }),
    });
    const body = await response.json();
    return response.ok ? (body.order?.status ?? "NO_ORDER") : `HTTP_${response.status}_${body.code ?? ""}`;
  };
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
    startedAt,
    endedAt: Date.now(),
  })}\n`,
);
process.exit(0);
