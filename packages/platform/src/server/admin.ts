import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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

/** Extra routes of an admin server (e.g. an operator's console): answers and returns true, or returns false to leave the request. */
export type AdminRoutes = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  probes: AdminProbes;
  logger: Logger;
  /** Default: the platform's `metricsRegistry` (a process that aggregates others passes its own). */
  metrics?: MetricsSource;
  /** Asked first for every request; its own paths may take any method and must guard themselves. */
  routes?: AdminRoutes;
}

/** A started admin HTTP server. */
export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the HTTP/1.1 admin server: `/metrics` (Prometheus), `/healthz` (liveness), `/readyz`
 * (readiness), each answering GET and HEAD only; it serves nothing that changes state itself (`routes` may).
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { probes, logger } = options;
  const source = options.metrics ?? metricsRegistry;
  const server: Server = createServer((req, res) => {
    if (options.routes?.(req, res)) return;
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
