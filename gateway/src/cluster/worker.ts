import cluster from "node:cluster";
import { type AdminServer, initTracing, type Logger, metricsRegistry, startAdminServer } from "@shop/platform";
import { AggregatorRegistry } from "prom-client";
import type { GatewayConfig } from "../config.js";
import { createMeshConsole, type MeshConsole } from "../console/console-server.js";
import { startGateway } from "../gateway-server.js";
import { meshClientFactory } from "../upstreams.js";

/**
 * Serves the public port: as a node:cluster worker (its metrics answered to the primary's
 * aggregation), or — with GATEWAY_WORKERS=1 — as the only process, with its own admin port.
 * Drains and exits on SIGTERM/SIGINT.
 */
export async function runWorker(config: GatewayConfig, logger: Logger): Promise<void> {
  initTracing("gateway");
  const gateway = await startGateway(config, {
    clientFactory: meshClientFactory(config),
    logger,
    rateLimitStore: cluster.isWorker ? "cluster" : "process",
  });
  let stopping = false;
  let admin: AdminServer | undefined;
  let meshConsole: MeshConsole | undefined;
  if (cluster.isWorker) {
    // Constructing one installs the worker's reply listener; the primary's /metrics asks every worker.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metricsRegistry]);
  } else {
    const probes = { live: () => true, ready: () => !stopping };
    const metrics = { contentType: metricsRegistry.contentType, metrics: () => metricsRegistry.metrics() };
    meshConsole = createMeshConsole(config.console, { logger, gateway: { ready: probes.ready, metrics } });
    admin = await startAdminServer({ host: config.host, port: config.adminPort, probes, logger, routes: meshConsole.routes });
    logger.info({ event: "listening", port: gateway.port, adminPort: admin.port }, "gateway started");
  }
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "gateway worker draining");
    await gateway.close(config.shutdownGraceMs);
    await admin?.close();
    await meshConsole?.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
