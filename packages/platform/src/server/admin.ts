import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { metricsRegistry } from "../observability/metrics.js";

/** What the admin port reports on. */
export interface AdminProbes {
  /** Liveness: false only when the process should be restarted. */
  live(): boolean;
  /** Readiness: false while a required dependency is down or the server is draining. */
  ready(): boolean;
}

/** Where `/metrics` comes from: the Prometheus exposition text and its content type. */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  probes: AdminProbes;
  logger: Logger;
  /** Default: the platform's `metricsRegistry` (a process that aggregates others passes its own). */
  metrics?: MetricsSource;
}

/** A started admin HTTP server. */
export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the HTTP/1.1 admin server: `/metrics` (Prometheus), `/healthz` (liveness), `/readyz`
 * (readiness), each answering GET and HEAD only. It serves nothing that changes state.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { probes, logger } = options;
  const source = options.metrics ?? metricsRegistry;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      source.metrics().then(
        (body) => res.writeHead(200, { "content-type": source.contentType }).end(body),
        (error: unknown) => {
          logger.error({ err: error }, "metrics collection failed");
          res.writeHead(500).end();
        },
      );
    } else if (path === "/healthz") {
      const live = probes.live();
      res.writeHead(live ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ status: live ? "ok" : "unhealthy" }));
    } else if (path === "/readyz") {
      const ready = probes.ready();
      res
        .writeHead(ready ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify({ status: ready ? "ready" : "not ready" }));
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
