import cluster from "node:cluster";
import { type Logger, startAdminServer } from "@shop/platform";
import { AggregatorRegistry } from "prom-client";
import type { GatewayConfig } from "../config.js";
import { createMeshConsole } from "../console/console-server.js";
import { serveSharedRateLimits } from "../edge/rate-lease-primary.js";

/**
 * Supervises the node:cluster workers that serve the public port: forks `config.workers` of them,
 * forks another when one dies, serves the admin port with every worker's metrics aggregated, and on
 * SIGTERM/SIGINT drains the workers before exiting.
 */
export async function runPrimary(config: GatewayConfig, logger: Logger): Promise<void> {
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
  // Before the first fork: each worker's limiter registers with the primary as it starts.
  serveSharedRateLimits();
  for (let i = 0; i < config.workers; i++) cluster.fork();
  const probes = { live: () => true, ready: () => listening > 0 && !stopping };
  // The primary serves no calls itself: /metrics is every worker's registry, summed.
  const metrics = { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
  const meshConsole = createMeshConsole(config.console, { logger, gateway: { ready: probes.ready, metrics } });
  const admin = await startAdminServer({ host: config.host, port: config.adminPort, probes, logger, metrics, routes: meshConsole.routes });
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
    await meshConsole.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
