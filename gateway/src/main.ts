// The gateway process: reads config once, then either supervises node:cluster workers (each
// serving the public port) and the admin port, or — with GATEWAY_WORKERS=1 — does both itself.
import cluster from "node:cluster";
import { ConfigError, createClient, initTracing, metricsRegistry } from "@shop/platform";
import { pino } from "pino";
import { AggregatorRegistry } from "prom-client";
import { type AdminServer, startAdminServer } from "./admin-server.js";
import { type GatewayConfig, loadGatewayConfig } from "./config.js";
import { startGateway } from "./gateway-server.js";
import type { UpstreamClient } from "./upstreams.js";

let config: GatewayConfig;
try {
  config = loadGatewayConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`gateway: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
const logger = pino({ name: "gateway", level: config.logLevel, base: { pid: process.pid } });

if (cluster.isPrimary && config.workers > 1) {
  await runPrimary(config);
} else {
  await runWorker(config);
}

async function runPrimary(config: GatewayConfig): Promise<void> {
  let stopping = false;
  let listening = 0;
  const aggregator = new AggregatorRegistry();
  const firstListening = new Promise<number>((resolve) => cluster.once("listening", (_worker, address) => resolve(address.port)));
  cluster.on("listening", () => listening++);
  cluster.on("exit", (worker, code, signal) => {
    listening = Math.max(0, listening - 1);
    if (stopping) return;
    logger.warn({ worker: worker.process.pid, code, signal }, "gateway worker exited; starting another");
    cluster.fork();
  });
  for (let i = 0; i < config.workers; i++) cluster.fork();
  const admin = await startAdminServer(
    config.host,
    config.adminPort,
    () => listening > 0,
    () => aggregator.clusterMetrics(),
  );
  // The workers share one port (port 0 = one the primary picks): announce it once the first listens.
  void firstListening.then((port) =>
    logger.info({ event: "listening", workers: config.workers, port, adminPort: admin.port }, "gateway primary started"),
  );
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "gateway stopping: draining workers");
    const workers = Object.values(cluster.workers ?? {});
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (!worker || worker.isDead()) return resolve();
            worker.once("exit", () => resolve());
            worker.process.kill("SIGTERM");
          }),
      ),
    );
    await admin.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

async function runWorker(config: GatewayConfig): Promise<void> {
  initTracing("gateway");
  const gateway = await startGateway(config, {
    // The edge hands each call its caller's trace (CallOptions.context), so the worker needs no
    // AsyncLocalStorage (measured: 15–25 % of a platform server's CPU per call on Node 20).
    clientFactory: (service, target) =>
      createClient(service, target, {
        defaultTimeoutMs: config.limits.unaryMaxTimeoutMs,
        implicitContext: false,
      }) as unknown as UpstreamClient,
    logger,
  });
  let admin: AdminServer | undefined;
  if (cluster.isWorker) {
    // Constructing one installs the worker's reply listener; the primary's /metrics asks every worker.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metricsRegistry]);
  } else {
    admin = await startAdminServer(
      config.host,
      config.adminPort,
      () => true,
      () => metricsRegistry.metrics(),
    );
    logger.info({ event: "listening", port: gateway.port, adminPort: admin.port }, "gateway started");
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "gateway worker draining");
    await gateway.close();
    await admin?.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
