import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The admin port: liveness, readiness and a small Prometheus text page. */
export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `/healthz` (the process is up), `/readyz` (`ready()` says the public port is serving)
 * and `/metrics` (`metrics()` text, Prometheus exposition format) on its own HTTP/1.1 port.
 */
export async function startAdminServer(host: string, port: number, ready: () => boolean, metrics: () => Promise<string>): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n");
    } else if (path === "/metrics") {
      metrics().then(
        (text) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
