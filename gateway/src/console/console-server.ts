import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AdminRoutes, Logger, MetricsSource } from "@shop/platform";
import sirv from "sirv";
import type { ConsoleConfig } from "./console-config.js";
import { type DeadLetterConsole, deadLetterConsole, deadLetterQueueOf } from "./dead-letters.js";
import { MeshOverviewSource } from "./mesh-overview.js";

/** The mesh console on the admin port: the page at /console/, its JSON API at /console/api/*. */
export interface MeshConsole {
  routes: AdminRoutes;
  close(): Promise<void>;
}

/** What the console needs beside its config: the gateway's own readiness and metrics, and the broker. */
export interface MeshConsoleDeps {
  logger: Logger;
  gateway: { ready: () => boolean; metrics: MetricsSource };
}

const PAGE_HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers })
    .end(JSON.stringify(body));
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > 4_096) reject(new HttpError(413, "request body too large"));
    });
    req.on("end", () => {
      try {
        const value: unknown = body === "" ? {} : JSON.parse(body);
        if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
        resolve(value as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, "request body must be a JSON object"));
      }
    });
    req.on("error", reject);
  });
}

/** Compares digests, so neither the token's length nor its bytes show in the time an answer takes. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

/** Builds the console; with no operator token configured it answers 404 under /console. */
export function createMeshConsole(config: ConsoleConfig, deps: MeshConsoleDeps): MeshConsole {
  const { logger } = deps;
  const token = config.token;
  const overview = new MeshOverviewSource([...config.services, { name: "gateway", ...deps.gateway }]);
  const deadLetters: DeadLetterConsole = deadLetterConsole({
    url: config.amqpUrl,
    logger,
    connectionName: `gateway-console@${process.pid}`,
  });
  const discovered = new Set<string>();
  const setHeaders = (res: ServerResponse) => {
    for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
  };
  const page = existsSync(config.root) ? sirv(config.root, { etag: true, setHeaders }) : undefined;
  if (token === undefined) logger.warn({ event: "console_off" }, "mesh console off: NODE_ENV=production and no GATEWAY_OPERATOR_TOKEN");
  if (!page) logger.warn({ root: config.root }, "no console build: /console serves only its API (npm run build -w @shop/web)");

  const queues = () => [...new Set([...config.queues, ...discovered])].sort();
  async function knownQueue(queue: string): Promise<string> {
    if (!queues().includes(queue)) await currentOverview();
    if (!queues().includes(queue)) throw new HttpError(404, `no queue "${queue}" in this mesh (known: ${queues().join(", ") || "none"})`);
    return queue;
  }
  async function currentOverview() {
    const current = await overview.overview();
    // Every DLQ a service reports on names a queue whose dead letters the console can manage.
    for (const q of current.queues) if (q.deadLetter) discovered.add(q.queue.replace(/\.dlq$/, ""));
    return {
      ...current,
      deadLetterQueues: queues().map((queue) => ({
        queue,
        deadLetterQueue: deadLetterQueueOf(queue),
        messages: current.queues.find((q) => q.queue === deadLetterQueueOf(queue))?.messages,
      })),
    };
  }

  async function api(req: IncomingMessage, path: string): Promise<[number, unknown]> {
    const method = req.method ?? "GET";
    if (path === "overview" && method === "GET") return [200, await currentOverview()];
    const [, rawQueue, action, rawId] = /^queues\/([^/]+)\/(dead-letters|replay|purge)(?:\/([^/]+))?$/.exec(path) ?? [];
    if (rawQueue === undefined) throw new HttpError(404, "no such console API");
    const queue = await knownQueue(decodeURIComponent(rawQueue));
    if (action === "dead-letters" && method === "GET" && rawId === undefined) {
      return [200, { queue, deadLetterQueue: deadLetterQueueOf(queue), letters: await deadLetters.list(queue) }];
    }
    if (action === "dead-letters" && method === "GET") {
      const id = decodeURIComponent(rawId!);
      const letter = await deadLetters.show(queue, id);
      if (!letter) throw new HttpError(404, `no message "${id}" in ${deadLetterQueueOf(queue)}`);
      return [200, letter];
    }
    if (action === "replay" && method === "POST" && rawId === undefined) {
      const body = await readJson(req);
      const id = body.all === true ? "all" : typeof body.id === "string" && body.id !== "" ? body.id : undefined;
      if (id === undefined) throw new HttpError(400, 'say which message: {"id": "<message id or #position>"} or {"all": true}');
      const replayed = await deadLetters.replay(queue, id);
      logger.info({ event: "console_replay", queue, id, replayed }, "dead letters replayed from the console");
      if (replayed === 0 && id !== "all") throw new HttpError(404, `no message "${id}" in ${deadLetterQueueOf(queue)}`);
      return [200, { replayed, queue }];
    }
    if (action === "purge" && method === "POST" && rawId === undefined) {
      const purged = await deadLetters.purge(queue);
      logger.info({ event: "console_purge", queue, purged }, "dead-letter queue purged from the console");
      return [200, { purged, queue: deadLetterQueueOf(queue) }];
    }
    throw new HttpError(405, `${method} is not allowed here`);
  }

  const routes: AdminRoutes = (req, res) => {
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? "/";
    if (path !== "/console" && !path.startsWith("/console/")) return false;
    if (token === undefined) {
      send(res, 404, { error: "the console is off: set GATEWAY_OPERATOR_TOKEN" });
      return true;
    }
    if (path.startsWith("/console/api/")) {
      if (!tokenMatches(req.headers.authorization, token)) {
        send(
          res,
          401,
          { error: "an operator token is required: Authorization: Bearer <GATEWAY_OPERATOR_TOKEN>" },
          {
            "www-authenticate": 'Bearer realm="mesh console"',
          },
        );
        return true;
      }
      api(req, path.slice("/console/api/".length)).then(
        ([status, body]) => send(res, status, body),
        (error: unknown) => {
          if (error instanceof HttpError) return send(res, error.status, { error: error.message });
          logger.warn({ err: error, path }, "console request failed");
          send(res, 503, { error: `the console could not do that: ${(error as Error).message}` });
        },
      );
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return true;
    }
    if (path === "/console") {
      res.writeHead(301, { location: "/console/" }).end();
      return true;
    }
    // The page holds no data (every figure comes from the API, behind the token).
    req.url = url.slice("/console".length);
    if (!page) send(res, 404, { error: "the console was not built (npm run build -w @shop/web)" });
    else page(req, res, () => send(res, 404, { error: "not found" }));
    return true;
  };

  return { routes, close: () => deadLetters.close() };
}
