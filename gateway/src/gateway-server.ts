import { setMaxListeners } from "node:events";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type Logger, notFound } from "@shop/platform";
import type { GatewayConfig } from "./config.js";
import { serveDevToken } from "./dev/dev-token-endpoint.js";
import { createEdge } from "./edge/edge.js";
import { createRateLimiter, type RateLimitStore } from "./edge/rate-limiter.js";
import { createTokenVerifier } from "./edge/token-verifier.js";
import { decideCors } from "./http/cors.js";
import { type NodeRequest, type NodeResponse, writeNotFound } from "./http/error-response.js";
import { listenDualProtocol } from "./http/listener.js";
import { createStaticFiles } from "./http/static-files.js";
import { serveRest } from "./rest/rest-handler.js";
import { createRestRouteTable } from "./rest/route-table.js";
import { registerPublicMethods, remoteAddressKey } from "./surface/connect-routes.js";
import { createLeanUnary } from "./surface/lean-unary.js";
import { registerPublicReflection } from "./surface/public-reflection.js";
import { type PublicMethod, publicMethods } from "./surface/public-surface.js";
import { createUpstreams, type UpstreamClientFactory } from "./upstreams.js";

/** A listening gateway. */
export interface RunningGateway {
  port: number;
  methods: readonly PublicMethod[];
  /** Stops listening and drains; connections still open after `graceMs` are destroyed. */
  close(graceMs?: number): Promise<void>;
}

/** What the gateway is built from besides its config. */
export interface GatewayDeps {
  /** The platform's `createClient` (grpc-js, typed by the descriptors). */
  clientFactory: UpstreamClientFactory;
  logger: Logger;
  /** "cluster" in a node:cluster worker: the rate limit is counted in the primary, shared by all workers. */
  rateLimitStore: RateLimitStore;
}

/** NOT_FOUND for a path outside the public surface: internal methods are indistinguishable from unknown ones. */
function notPublic(path: string) {
  return notFound("METHOD_NOT_PUBLIC", { type: "method", name: path.split("?")[0] ?? path });
}

// `/package.Service/Method`: a dotted (package-qualified) service name, then the method.
const RPC_PATH = /^\/[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\/[A-Za-z_]\w*$/;

// A request target that is already its own pathname: no query, no percent-encoding, no dot segment
// or empty segment to normalise. Every RPC path is one; parsing it as a URL cost ~1-2 % of a call.
const PLAIN_PATH = /^(?:\/[\w-][\w.-]*)+$|^\/$/;
const URL_BASE = "http://gateway.invalid";

/**
 * Starts the gateway on one port for HTTP/1.1 and h2c: Connect/gRPC-Web/gRPC for the annotated
 * methods (and reflection of just those), REST routes from their `google.api.http` rules, the dev
 * token endpoint and the storefront; every other path is NOT_FOUND and never reaches a service.
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const methods = publicMethods(config.frontedServices);
  const restRoutes = createRestRouteTable(methods);
  const upstreams = createUpstreams(config.upstreams, deps.clientFactory);
  const edge = createEdge({
    verifier: createTokenVerifier(config.jwt),
    limiter: createRateLimiter(config.rateLimit, deps.rateLimitStore, deps.logger),
    upstreams,
    limits: config.limits,
    anonymousServices: new Set(config.anonymousServices),
    trustedProxies: config.trustedProxies,
    logger: deps.logger,
  });
  const staticFiles = createStaticFiles(config.webRoot, deps.logger);
  const shutdown = new AbortController();
  // connect-node links every in-flight call's signal to this one (a listener each): more than ten
  // concurrent calls are normal here, not the leak Node's default warning assumes.
  setMaxListeners(0, shutdown.signal);
  const connectHandler = connectNodeAdapter({
    routes(router: ConnectRouter) {
      registerPublicMethods(router, methods, edge);
      registerPublicReflection(router, methods);
    },
    readMaxBytes: config.limits.readMaxBytes,
    maxTimeoutMs: config.limits.streamMaxTimeoutMs,
    shutdownSignal: shutdown.signal,
    contextValues: (req) => createContextValues().set(remoteAddressKey, req.socket.remoteAddress ?? "unknown"),
    fallback: (req, res) => writeNotFound(req, res, notPublic(req.url ?? "")),
  });

  // Unary Connect and gRPC calls skip connect-node's per-call machinery (surface/lean-unary.ts);
  // GATEWAY_LEAN_UNARY=off keeps every call on connect-node (for A/B measurements).
  const lean = !config.leanUnary
    ? undefined
    : createLeanUnary({
        methods,
        edge,
        readMaxBytes: config.limits.readMaxBytes,
        maxTimeoutMs: config.limits.streamMaxTimeoutMs,
        shutdownSignal: shutdown.signal,
      });

  async function handle(req: NodeRequest, res: NodeResponse): Promise<void> {
    const target = req.url ?? "/";
    let url: URL | undefined;
    if (!PLAIN_PATH.test(target)) url = new URL(target, URL_BASE);
    const pathname = url?.pathname ?? target;
    const method = req.method ?? "GET";
    const cors = decideCors(config.corsOrigins, method, req.headers);
    if (cors.kind === "denied" && cors.preflight) {
      res.writeHead(403, { "content-type": "text/plain" });
      res.end("origin not allowed");
      return;
    }
    if (cors.kind === "allowed") {
      for (const [name, value] of Object.entries(cors.headers)) res.setHeader(name, value);
      if (cors.preflight) {
        res.writeHead(204);
        res.end();
        return;
      }
    }
    const rest = restRoutes.match(method, pathname);
    if (rest.route) return serveRest(req, res, url?.searchParams, rest, edge, config.limits.readMaxBytes);
    if (pathname === "/dev/token" && config.devTokens) return serveDevToken(req, res, config.jwt);
    if (RPC_PATH.test(pathname)) {
      if (lean?.serve(req, res, pathname)) return;
      connectHandler(req as never, res as never);
      return;
    }
    if ((method === "GET" || method === "HEAD") && staticFiles(req, res)) return;
    writeNotFound(req, res, notPublic(pathname));
  }

  const listener = await listenDualProtocol(config.host, config.port, config.limits, (req, res) => {
    handle(req, res as NodeResponse).catch((error: unknown) => {
      deps.logger.error({ err: error, path: req.url }, "request failed");
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const port = listener.port;
  deps.logger.info({ port, methods: methods.map((m) => m.path) }, "gateway listening");
  return {
    port,
    methods,
    async close(graceMs = 5_000) {
      shutdown.abort();
      await listener.close(graceMs);
      upstreams.close();
    },
  };
}
