// Part 3: CreateOrder to CONFIRMED through the whole mesh (gateway, order saga over inventory and
// payment, PostgreSQL per service, outbox -> RabbitMQ -> notification) by a separate closed-loop
// load process, through the gateway vs straight to the order service; and how fast the
// notifications of those orders are delivered (deliveries rows in the notification database).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { startMesh } from "../src/mesh.mjs";
import { meshClientOptions } from "../src/mesh-clients.mjs";
import { cpuSeconds, processTree } from "../src/processes.mjs";
import { spread } from "../src/stats.mjs";
import { CATALOGUE_SKUS as SKUS } from "./catalogue.mjs";

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL("./load.mjs", import.meta.url));
const LABELS = { gateway: "CreateOrder via gateway (Connect JSON, HTTP/1.1, JWT)", direct: "CreateOrder direct gRPC to order (baseline)" };

/** Enough stock that no order is rejected for it. */
async function restock(mesh) {
  const { createClient } = await import("@shop/platform");
  const { InventoryService } = await import("@shop/contracts/shop/inventory/v1/inventory_service_pb");
  // Restocking is the operator's to do.
  const client = createClient(InventoryService, mesh.address("inventory"), await meshClientOptions(mesh.certsDir, "operator", "inventory"));
  try {
    for (const sku of SKUS) await client.restockProduct({ sku, quantity: 1_000_000 });
  } finally {
    client.close();
  }
}

/** Waits until `expected` deliveries for `user` exist (or `timeoutMs`); returns count and last delivery time. */
async function deliveries(db, user, expected, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query(
      "select count(*)::int as n, extract(epoch from max(delivered_at)) * 1000 as last from deliveries where user_id = $1",
      [user],
    );
    const { n, last } = rows[0];
    if (n >= expected || Date.now() > deadline) return { count: n, lastMs: Number(last) };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs part 3 at `concurrencies`, `seconds` per point, `repeats` interleaved rounds. */
export async function runEndToEnd({ concurrencies, seconds, repeats, log = console.log }) {
  const mesh = await startMesh({
    db: "postgres",
    env: {
      GATEWAY_WORKERS: process.env.BENCH_GATEWAY_WORKERS ?? "2",
      GATEWAY_RATE_LIMIT_BURST: "100000000",
      GATEWAY_RATE_LIMIT_PER_SECOND: "100000000",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
    },
  });
  const db = new pg.Client({ connectionString: mesh.databases.notification.url });
  try {
    await db.connect();
    await restock(mesh);
    const tokenResponse = await fetch(`${mesh.gatewayUrl}/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "bench" }),
    });
    if (!tokenResponse.ok) throw new Error(`dev token: ${tokenResponse.status} ${await tokenResponse.text()}`);
    const serverPids = () => Object.values(mesh.processes).flatMap(({ child }) => processTree(child.pid));
    const modes = ["gateway", "direct"];
    const raw = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(concurrencies.map((c) => [c, []]))]));
    for (let round = 0; round < repeats; round++) {
      for (const concurrency of concurrencies) {
        for (const mode of modes) {
          // the token's subject is the user; for direct calls x-user-id carries a per-point user instead
          const user = mode === "gateway" ? "bench" : `bench-direct-${round}-${concurrency}`;
          const token =
            mode === "gateway"
              ? (
                  await (
                    await fetch(`${mesh.gatewayUrl}/dev/token`, {
                      method: "POST",
                      headers: { "content-type": "application/json" },
                      body: JSON.stringify({ user: `bench-gw-${round}-${concurrency}` }),
                    })
                  ).json()
                ).token
              : undefined;
          const pointUser = mode === "gateway" ? `bench-gw-${round}-${concurrency}` : user;
          const spec = {
            mode,
            target: mode === "gateway" ? mesh.gatewayUrl : mesh.address("order"),
            // Straight to order over mTLS as the gateway, the one workload order answers.
            certsDir: mesh.certsDir,
            token,
            user: pointUser,
            concurrency,
            seconds,
            skus: SKUS,
          };
          const pids = serverPids();
          const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
          const byProcess = Object.entries(mesh.processes).map(([name, { child }]) => [name, processTree(child.pid)]);
          const cpuByProcess0 = byProcess.map(([, ps]) => ps.reduce((s, p) => s + cpuSeconds(p), 0));
          const { stdout } = await run(process.execPath, [LOAD, JSON.stringify(spec)], {
            maxBuffer: 1 << 20,
            timeout: (seconds + 120) * 1000,
          });
          const cpu1 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
          const cpuByProcess1 = byProcess.map(([, ps]) => ps.reduce((s, p) => s + cpuSeconds(p), 0));
          const result = JSON.parse(stdout.trim().split("\n").at(-1));
          // warm-up orders (one per worker) also notify
          const expected = result.confirmed + concurrency;
          const delivered = await deliveries(db, pointUser, expected);
          const deliveryWindow = (delivered.lastMs - result.startedAt) / 1000;
          const point = {
            ...result,
            rps: result.ordersPerSec,
            cpuUsPerRequest: result.orders ? ((cpu1 - cpu0) * 1e6) / result.orders : NaN,
            notificationsDelivered: delivered.count,
            notificationsExpected: expected,
            notificationsPerSec: delivered.count > concurrency ? (delivered.count - concurrency) / deliveryWindow : 0,
            notificationLagMs: delivered.lastMs - result.endedAt,
            failed: result.orders - result.confirmed,
          };
          raw[mode][concurrency].push(point);
          // where the mesh's CPU per order went, process by process (ms)
          const perProcess = byProcess
            .map(([name], i) => `${name} ${(((cpuByProcess1[i] - cpuByProcess0[i]) * 1000) / result.orders).toFixed(1)}`)
            .join(", ");
          log(
            `  e2e: round ${round + 1}/${repeats} c=${concurrency} ${mode}: ${point.rps.toFixed(1)} orders/s p50 ${point.p50Ms.toFixed(1)} ms p99 ${point.p99Ms.toFixed(1)} ms, ${JSON.stringify(result.statuses)}, notifications ${delivered.count}/${expected} at ${point.notificationsPerSec.toFixed(1)}/s, last ${point.notificationLagMs.toFixed(0)} ms after the load; CPU ms/order ${perProcess}`,
          );
        }
      }
    }
    const metrics = [
      "rps",
      "p50Ms",
      "p90Ms",
      "p99Ms",
      "cpuUsPerRequest",
      "failed",
      "notificationsPerSec",
      "notificationLagMs",
      "confirmed",
      "orders",
    ];
    const series = modes.map((mode) => ({
      id: mode,
      label: LABELS[mode],
      points: concurrencies.map((concurrency) => ({
        concurrency,
        ...Object.fromEntries(metrics.map((m) => [m, spread(raw[mode][concurrency].map((p) => p[m]))])),
        statuses: raw[mode][concurrency].map((p) => p.statuses),
      })),
    }));
    return {
      title: "End to end: CreateOrder to CONFIRMED, and notifications delivered",
      unit: "orders/s",
      method: `the whole mesh as processes (PostgreSQL database per service, RabbitMQ, gateway GATEWAY_WORKERS=${process.env.BENCH_GATEWAY_WORKERS ?? "2"} with the rate limit lifted, LOG_LEVEL ${process.env.BENCH_LOG_LEVEL ?? "info"}); a separate closed-loop load process places one-unit orders over ${SKUS.length} products with tok_visa and a fresh request_id, ${seconds} s per point, ${repeats} interleaved repeats; orders/s counts CONFIRMED responses; notifications/s = deliveries of that point's orders (notification database) ÷ time from the load's start to the last delivery; server CPU = all mesh processes per order (PostgreSQL and RabbitMQ not counted)`,
      series,
      comparisons: [{ subject: "gateway", baseline: "direct" }],
      extraHeader: [
        "path",
        "concurrency",
        "orders/s",
        "p99 ms",
        "non-CONFIRMED",
        "notifications/s",
        "last notification after load end, ms",
      ],
      extra: series.flatMap((s) =>
        s.points.map((p) => [s.label, p.concurrency, p.rps, p.p99Ms, p.failed, p.notificationsPerSec, p.notificationLagMs]),
      ),
    };
  } finally {
    await db.end().catch(() => undefined);
    await mesh.stop();
  }
}
