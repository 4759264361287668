// Part 3: CreateOrder to CONFIRMED through the whole mesh (gateway, order saga over inventory and
// payment, PostgreSQL per service, outbox -> RabbitMQ -> notification) by a separate closed-loop
// load process, through the gateway vs straight to the order service; and how fast the
// notifications of those orders are delivered (deliveries rows in the notification database).
// With `floor`, the same direct load also runs against the order path's floor (floor-service.mjs:
// the same processes, calls, statements and messages in bare Node, nothing else), in the same rounds.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { startMesh } from "../src/mesh.mjs";
import { meshClientOptions } from "../src/mesh-clients.mjs";
import { cpuSeconds, cpuSecondsByCommand, processTree } from "../src/processes.mjs";
import { spread } from "../src/stats.mjs";
import { CATALOGUE_SKUS as SKUS } from "./catalogue.mjs";
import { startFloorMesh } from "./floor-mesh.mjs";

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL("./load.mjs", import.meta.url));
const LABELS = {
  gateway: "CreateOrder via gateway (Connect JSON, HTTP/1.1, JWT)",
  direct: "CreateOrder direct gRPC to order (baseline)",
  floor: "CreateOrder direct gRPC to the floor (bare Node: same calls, statements, messages)",
};
/** The shared servers each order also costs CPU in (not part of "server CPU", reported beside it). */
const INFRASTRUCTURE = { postgres: "postgres", rabbitmq: "beam.smp" };

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

/**
 * Runs part 3 at `concurrencies`, `seconds` per point, `repeats` interleaved rounds. First every
 * path takes `warmupSeconds` of orders at the highest concurrency, not recorded: V8 is still
 * optimising a process's hot code for tens of seconds after its first orders (profiled with perf on
 * the order process 12 s into its load: background compilation ~170 µs of CPU per order in the
 * mesh, ~40 in the floor, whose code is smaller), and the first round's points paid for it.
 */
export async function runEndToEnd({ concurrencies, seconds, repeats, warmupSeconds = 0, floor = false, log = console.log }) {
  const mesh = await startMesh({
    db: "postgres",
    env: {
      GATEWAY_WORKERS: process.env.BENCH_GATEWAY_WORKERS ?? "2",
      GATEWAY_RATE_LIMIT_BURST: "100000000",
      GATEWAY_RATE_LIMIT_PER_SECOND: "100000000",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
    },
  });
  let floorMesh;
  const db = new pg.Client({ connectionString: mesh.databases.notification.url });
  let floorDb;
  try {
    await db.connect();
    if (floor) {
      floorMesh = await startFloorMesh();
      floorDb = new pg.Client({ connectionString: floorMesh.databases.notification.url });
      await floorDb.connect();
    }
    await restock(mesh);
    const meshOf = (mode) => (mode === "floor" ? floorMesh : mesh);
    /** A development token for `user` from the gateway. */
    const tokenFor = async (user) => {
      const response = await fetch(`${mesh.gatewayUrl}/dev/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user }),
      });
      if (!response.ok) throw new Error(`dev token: ${response.status} ${await response.text()}`);
      return (await response.json()).token;
    };
    /**
     * Runs the load process on `mode`'s path: orders for `user` — through the gateway with `token`
     * (whose subject it is), straight to order with x-user-id.
     */
    const placeOrders = async (mode, user, token, concurrency, pointSeconds) => {
      const spec = {
        mode: mode === "floor" ? "direct" : mode,
        target: mode === "gateway" ? mesh.gatewayUrl : meshOf(mode).address("order"),
        // Straight to order over mTLS as the gateway, the one workload order answers.
        certsDir: meshOf(mode).certsDir,
        token,
        user,
        concurrency,
        seconds: pointSeconds,
        skus: SKUS,
      };
      const { stdout } = await run(process.execPath, [LOAD, JSON.stringify(spec)], {
        maxBuffer: 1 << 20,
        timeout: (pointSeconds + 120) * 1000,
      });
      return JSON.parse(stdout.trim().split("\n").at(-1));
    };
    await tokenFor("bench"); // dev tokens work before anything is measured
    const serverPids = (mode) => Object.values(meshOf(mode).processes).flatMap(({ child }) => processTree(child.pid));
    const modes = ["gateway", "direct", ...(floorMesh ? ["floor"] : [])];
    const raw = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(concurrencies.map((c) => [c, []]))]));
    if (warmupSeconds > 0) {
      const concurrency = Math.max(...concurrencies);
      for (const mode of modes) {
        const token = mode === "gateway" ? await tokenFor("bench-warmup") : undefined;
        const result = await placeOrders(mode, "bench-warmup", token, concurrency, warmupSeconds);
        log(`  e2e: warm-up ${mode} c=${concurrency} ${warmupSeconds} s: ${result.ordersPerSec.toFixed(1)} orders/s (not recorded)`);
      }
    }
    for (let round = 0; round < repeats; round++) {
      for (const concurrency of concurrencies) {
        for (const mode of modes) {
          const pointUser = mode === "gateway" ? `bench-gw-${round}-${concurrency}` : `bench-direct-${round}-${concurrency}`;
          const token = mode === "gateway" ? await tokenFor(pointUser) : undefined;
          const pids = serverPids(mode);
          const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
          const infrastructure0 = cpuSecondsByCommand(Object.values(INFRASTRUCTURE));
          const byProcess = Object.entries(meshOf(mode).processes).map(([name, { child }]) => [name, processTree(child.pid)]);
          const cpuByProcess0 = byProcess.map(([, ps]) => ps.reduce((s, p) => s + cpuSeconds(p), 0));
          const result = await placeOrders(mode, pointUser, token, concurrency, seconds);
          const cpu1 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
          const infrastructure1 = cpuSecondsByCommand(Object.values(INFRASTRUCTURE));
          const cpuByProcess1 = byProcess.map(([, ps]) => ps.reduce((s, p) => s + cpuSeconds(p), 0));
          const infrastructureMs = (name) =>
            result.orders ? ((infrastructure1[INFRASTRUCTURE[name]] - infrastructure0[INFRASTRUCTURE[name]]) * 1000) / result.orders : NaN;
          // warm-up orders (one per worker) also notify
          const expected = result.confirmed + concurrency;
          const delivered = await deliveries(mode === "floor" ? floorDb : db, pointUser, expected);
          const deliveryWindow = (delivered.lastMs - result.startedAt) / 1000;
          const point = {
            ...result,
            rps: result.ordersPerSec,
            cpuUsPerRequest: result.orders ? ((cpu1 - cpu0) * 1e6) / result.orders : NaN,
            postgresCpuMs: infrastructureMs("postgres"),
            rabbitmqCpuMs: infrastructureMs("rabbitmq"),
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
          const shared = `PostgreSQL ${point.postgresCpuMs.toFixed(1)}, RabbitMQ ${point.rabbitmqCpuMs.toFixed(1)}, load ${result.loadCpuMsPerOrder.toFixed(1)}`;
          log(
            `  e2e: round ${round + 1}/${repeats} c=${concurrency} ${mode}: ${point.rps.toFixed(1)} orders/s p50 ${point.p50Ms.toFixed(1)} ms p99 ${point.p99Ms.toFixed(1)} ms, ${JSON.stringify(result.statuses)}, notifications ${delivered.count}/${expected} at ${point.notificationsPerSec.toFixed(1)}/s, last ${point.notificationLagMs.toFixed(0)} ms after the load; CPU ms/order ${perProcess}; beside them ${shared}`,
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
      "postgresCpuMs",
      "rabbitmqCpuMs",
      "loadCpuMsPerOrder",
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
      method: `the whole mesh as processes (PostgreSQL database per service, RabbitMQ, gateway GATEWAY_WORKERS=${process.env.BENCH_GATEWAY_WORKERS ?? "2"} with the rate limit lifted, LOG_LEVEL ${process.env.BENCH_LOG_LEVEL ?? "info"}); a separate closed-loop load process places one-unit orders over ${SKUS.length} products with tok_visa and a fresh request_id, ${seconds} s per point, ${repeats} interleaved repeats${warmupSeconds > 0 ? ` after ${warmupSeconds} s of unrecorded orders per path at c=${Math.max(...concurrencies)} (V8's optimising compilers done with the hot code)` : ""}; orders/s counts CONFIRMED responses; notifications/s = deliveries of that point's orders (notification database) ÷ time from the load's start to the last delivery; server CPU = all mesh processes per order (PostgreSQL and RabbitMQ not counted: their CPU per order — every postgres and beam.smp process on the machine, over the same span — and the load process's are in the table below)${floorMesh ? "; floor = bench/e2e/floor-service.mjs: order, inventory, payment and notification as bare node:http2 servers over the same mTLS (caller's SPIFFE id checked once per connection), the real contracts' messages (protobuf-es), the same statements on each service's database with the real schema (pg, named prepared statements; payment's capture one conditional UPDATE instead of a locked transaction) and the same two events through an outbox relay (confirms) to an order feed and notification's deliveries (one INSERT and one ack per prefetch window); no validation, access table, deadlines beyond one per call, leases renewed, retries, breakers, metrics, tracing or logs" : ""}`,
      series,
      comparisons: [{ subject: "gateway", baseline: "direct" }, ...(floorMesh ? [{ subject: "direct", baseline: "floor" }] : [])],
      extraHeader: [
        "path",
        "concurrency",
        "orders/s",
        "p99 ms",
        "non-CONFIRMED",
        "notifications/s",
        "last notification after load end, ms",
        "PostgreSQL CPU ms/order",
        "RabbitMQ CPU ms/order",
        "load process CPU ms/order",
      ],
      extra: series.flatMap((s) =>
        s.points.map((p) => [
          s.label,
          p.concurrency,
          p.rps,
          p.p99Ms,
          p.failed,
          p.notificationsPerSec,
          p.notificationLagMs,
          p.postgresCpuMs,
          p.rabbitmqCpuMs,
          p.loadCpuMsPerOrder,
        ]),
      ),
    };
  } finally {
    await db.end().catch(() => undefined);
    await floorDb?.end().catch(() => undefined);
    await floorMesh?.stop();
    await mesh.stop();
  }
}
