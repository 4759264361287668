import { readFileSync } from "node:fs";
import type { BlockList } from "node:net";
import { fileURLToPath } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import { ConfigError, envInteger, loadServiceConfig, type MeshTlsConfig } from "@shop/platform";
import { type ConsoleConfig, loadConsoleConfig } from "./console/console-config.js";
import { trustedProxies } from "./edge/client-address.js";
import { hasPublicMethod } from "./surface/public-surface.js";
import { catalogueService, SERVICE_CATALOGUE } from "./surface/service-catalogue.js";

/** Development-only HS256 secret; documented in gateway/README.md. Never use it outside a laptop. */
export const DEV_JWT_SECRET = "shop-mesh-dev-secret-change-me-0123456789";

/** The services fronted when GATEWAY_FRONTED_SERVICES is unset: every one with a public method. */
const DEFAULT_FRONTED_SERVICES = [
  "shop.order.v1.OrderService",
  "shop.inventory.v1.InventoryService",
  "shop.notification.v1.NotificationService",
];

/** Callers without a token may browse the product catalogue, nothing else, unless GATEWAY_ANONYMOUS_SERVICES says so. */
const DEFAULT_ANONYMOUS_SERVICES = ["shop.inventory.v1.InventoryService"];

/** Local defaults of the upstream variables: each service's own port on this machine (ARCHITECTURE.md). */
const DEFAULT_UPSTREAM_TARGETS: Record<string, string> = {
  ORDER_URL: "127.0.0.1:50051",
  INVENTORY_URL: "127.0.0.1:50052",
  PAYMENT_URL: "127.0.0.1:50053",
  NOTIFICATION_URL: "127.0.0.1:50054",
};

/** Everything the gateway reads from the environment, once, at start-up. */
export interface GatewayConfig {
  host: string;
  /** Public port: HTTP/1.1 and h2c (Connect, gRPC-Web, gRPC, REST, the web UI). */
  port: number;
  /** Admin HTTP/1.1 port: /healthz, /readyz, /metrics. */
  adminPort: number;
  logLevel: string;
  /** How long in-flight calls may drain after SIGTERM before their connections are closed. */
  shutdownGraceMs: number;
  /** The gateway's own mesh certificate: it calls every upstream over mTLS as `spiffe://<trust domain>/gateway`. */
  tls: MeshTlsConfig;
  /** node:cluster workers sharing the public port; 1 runs in-process. */
  workers: number;
  /** Unary Connect and gRPC calls on the lean path (surface/lean-unary.ts) rather than connect-node (GATEWAY_LEAN_UNARY, default true; off for A/B runs). */
  leanUnary: boolean;
  /** The services whose annotated methods the gateway exposes (GATEWAY_FRONTED_SERVICES). */
  frontedServices: readonly DescService[];
  /** Full names of fronted services whose public methods need no token (GATEWAY_ANONYMOUS_SERVICES). */
  anonymousServices: readonly string[];
  /** grpc-js target of each fronted service, by full name, from its `<NAME>_URL` (see {@link upstreamVariable}). */
  upstreams: Readonly<Record<string, string>>;
  jwt: {
    /** HS256 secret; ignored when jwksUrl is set. */
    secret: string;
    jwksUrl: string | undefined;
    /** Algorithms accepted from the JWKS; HS256 only for the secret. */
    jwksAlgorithms: string[];
    issuer: string;
    audience: string;
    /** Lifetime of tokens minted by /dev/token and `npm run token`. */
    devTokenTtlSeconds: number;
  };
  /** Whether POST /dev/token mints tokens (development convenience; disable in production). */
  devTokens: boolean;
  /** Origins allowed by CORS; same-origin requests need none. */
  corsOrigins: string[];
  /**
   * The proxies in front of the gateway (GATEWAY_TRUSTED_PROXIES: addresses and CIDR ranges), whose
   * X-Forwarded-For names the caller for per-caller limits; unset, the socket's peer is the caller.
   */
  trustedProxies: BlockList | undefined;
  rateLimit: { burst: number; perSecond: number };
  limits: {
    readMaxBytes: number;
    /** Deadline cap for unary calls forwarded upstream. */
    unaryMaxTimeoutMs: number;
    /** Deadline cap for server streams (WatchOrder). */
    streamMaxTimeoutMs: number;
    /** Shortest deadline a caller may ask for: a shorter one fails at once with DEADLINE_EXCEEDED, reaching no service. */
    minTimeoutMs: number;
    /** Open connections per process (each node:cluster worker): more are closed as they arrive. */
    maxConnections: number;
    /** Open connections per remote address per process (0: no cap, e.g. behind a proxy): more from it are closed as they arrive. */
    maxConnectionsPerIp: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    maxConcurrentStreams: number;
  };
  /** Built storefront (web/dist); served at `/` when it exists. */
  webRoot: string;
  /** The mesh console at /console on the admin port. */
  console: ConsoleConfig;
}

/** Raised for a malformed variable; start-up stops with its message. */
export class GatewayConfigError extends ConfigError {
  override name = "GatewayConfigError";
}

function integer(env: NodeJS.ProcessEnv, key: string, fallback: number, min = 0): number {
  return envInteger(env, key, fallback, { min });
}

/**
 * The HS256 secret: GATEWAY_JWT_SECRET, or the contents of the file GATEWAY_JWT_SECRET_FILE names (a
 * mounted Secret), else — outside production only — the public development secret. In production
 * (`required`) a missing or development secret stops start-up, naming what to set.
 */
function jwtSecret(env: NodeJS.ProcessEnv, required: boolean): string {
  const file = env.GATEWAY_JWT_SECRET_FILE;
  let secret = env.GATEWAY_JWT_SECRET || undefined;
  if (secret === undefined && file) {
    try {
      secret = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new GatewayConfigError(
        `GATEWAY_JWT_SECRET_FILE names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (required && (secret === undefined || secret === DEV_JWT_SECRET)) {
    throw new GatewayConfigError(
      "NODE_ENV=production refuses the development JWT secret: set GATEWAY_JWT_SECRET (or GATEWAY_JWT_SECRET_FILE) " +
        "to 32+ random bytes, or GATEWAY_JWKS_URL",
    );
  }
  return secret ?? DEV_JWT_SECRET;
}

function flag(env: NodeJS.ProcessEnv, key: string, fallback: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new GatewayConfigError(`${key} must be true or false, got "${raw}"`);
}

function list(env: NodeJS.ProcessEnv, key: string, fallback: string[]): string[] {
  const raw = env[key];
  if (raw === undefined) return fallback;
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** GATEWAY_TRUSTED_PROXIES: addresses and CIDR ranges of the proxies in front of the gateway; a malformed entry stops start-up. */
function proxies(env: NodeJS.ProcessEnv): BlockList | undefined {
  try {
    return trustedProxies(list(env, "GATEWAY_TRUSTED_PROXIES", []));
  } catch (error) {
    throw new ConfigError(`GATEWAY_TRUSTED_PROXIES: ${(error as Error).message}`);
  }
}

/** The variable that names a service's upstream: `shop.order.v1.OrderService` -> `ORDER_URL`, `ReadModelService` -> `READ_MODEL_URL`. */
export function upstreamVariable(service: DescService): string {
  return `${upstreamWorkload(service).replace(/-/g, "_").toUpperCase()}_URL`;
}

/** The workload that serves a service, as its mesh certificate names it: `OrderService` -> `order`, `ReadModelService` -> `read-model`. */
export function upstreamWorkload(service: DescService): string {
  const base = service.name.replace(/Service$/, "");
  return base.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function frontedServices(env: NodeJS.ProcessEnv): DescService[] {
  const names = [...new Set(list(env, "GATEWAY_FRONTED_SERVICES", DEFAULT_FRONTED_SERVICES))];
  if (names.length === 0) throw new GatewayConfigError("GATEWAY_FRONTED_SERVICES must name at least one service");
  return names.map((name) => {
    const service = catalogueService(name);
    if (!service) {
      const known = SERVICE_CATALOGUE.map((s) => s.typeName).join(", ");
      throw new GatewayConfigError(`GATEWAY_FRONTED_SERVICES names "${name}", which is not a service this gateway knows (${known})`);
    }
    if (!hasPublicMethod(service)) {
      throw new GatewayConfigError(`GATEWAY_FRONTED_SERVICES names "${name}", which has no google.api.http method: nothing to front`);
    }
    return service;
  });
}

function anonymousServices(env: NodeJS.ProcessEnv, fronted: readonly DescService[]): string[] {
  const isFronted = (name: string) => fronted.some((service) => service.typeName === name);
  // Unset: the default, for the services that are fronted. Set, even to "" (no anonymous access): exactly that.
  if (env.GATEWAY_ANONYMOUS_SERVICES === undefined) return DEFAULT_ANONYMOUS_SERVICES.filter(isFronted);
  const names = list(env, "GATEWAY_ANONYMOUS_SERVICES", []);
  for (const name of names) {
    if (!isFronted(name)) {
      const frontedNames = fronted.map((service) => service.typeName).join(", ");
      throw new GatewayConfigError(`GATEWAY_ANONYMOUS_SERVICES names "${name}", which is not fronted (fronted: ${frontedNames})`);
    }
  }
  return names;
}

function upstreamTargets(env: NodeJS.ProcessEnv, fronted: readonly DescService[]): Record<string, string> {
  const targets: Record<string, string> = {};
  for (const service of fronted) {
    const variable = upstreamVariable(service);
    const target = env[variable] || DEFAULT_UPSTREAM_TARGETS[variable];
    if (target === undefined) {
      throw new GatewayConfigError(`${variable} must be set: the grpc-js target of ${service.typeName}, which the gateway fronts`);
    }
    if (/\s/.test(target)) {
      throw new GatewayConfigError(`${variable} must be a grpc-js target such as "dns:///host:port", got "${target}"`);
    }
    targets[service.typeName] = target;
  }
  return targets;
}

/**
 * Reads the gateway's config from `GATEWAY_*`, `*_URL` and the platform's common variables (`HOST`,
 * `LOG_LEVEL`, `SHUTDOWN_GRACE_MS`); throws naming a bad variable.
 */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // GATEWAY_PORT, GATEWAY_ADMIN_PORT, HOST, LOG_LEVEL and SHUTDOWN_GRACE_MS mean what they mean for every service.
  const certRoot = fileURLToPath(new URL("../../.certs", import.meta.url));
  const common = loadServiceConfig("gateway", { port: 8080, adminPort: 9080, certRoot }, env);
  const production = env.NODE_ENV === "production";
  const jwksUrl = env.GATEWAY_JWKS_URL || undefined;
  if (jwksUrl !== undefined && !URL.canParse(jwksUrl)) throw new GatewayConfigError(`GATEWAY_JWKS_URL is not a URL: "${jwksUrl}"`);
  const secret = jwtSecret(env, production && jwksUrl === undefined);
  if (Buffer.byteLength(secret) < 32) throw new GatewayConfigError("GATEWAY_JWT_SECRET must be at least 32 bytes for HS256");
  const devTokens = flag(env, "GATEWAY_DEV_TOKENS", !production) && jwksUrl === undefined;
  if (production && devTokens) {
    throw new GatewayConfigError("GATEWAY_DEV_TOKENS=true is refused when NODE_ENV=production: /dev/token signs a token for anyone");
  }
  const fronted = frontedServices(env);
  return {
    host: common.host,
    port: common.port,
    adminPort: common.adminPort,
    logLevel: common.logLevel,
    shutdownGraceMs: common.shutdownGraceMs,
    tls: common.tls,
    workers: integer(env, "GATEWAY_WORKERS", 2, 1),
    leanUnary: flag(env, "GATEWAY_LEAN_UNARY", true),
    frontedServices: fronted,
    anonymousServices: anonymousServices(env, fronted),
    upstreams: upstreamTargets(env, fronted),
    jwt: {
      secret,
      jwksUrl,
      jwksAlgorithms: list(env, "GATEWAY_JWKS_ALGORITHMS", ["RS256", "ES256"]),
      issuer: env.GATEWAY_JWT_ISSUER || "shop-mesh-dev",
      audience: env.GATEWAY_JWT_AUDIENCE || "shop-gateway",
      devTokenTtlSeconds: integer(env, "GATEWAY_DEV_TOKEN_TTL_SECONDS", 3600, 1),
    },
    devTokens,
    corsOrigins: list(env, "GATEWAY_CORS_ORIGINS", ["http://localhost:5173"]),
    trustedProxies: proxies(env),
    rateLimit: {
      burst: integer(env, "GATEWAY_RATE_LIMIT_BURST", 100, 1),
      perSecond: integer(env, "GATEWAY_RATE_LIMIT_PER_SECOND", 50, 1),
    },
    limits: {
      readMaxBytes: integer(env, "GATEWAY_READ_MAX_BYTES", 1024 * 1024, 1),
      unaryMaxTimeoutMs: integer(env, "GATEWAY_UNARY_TIMEOUT_MS", 30_000, 1),
      streamMaxTimeoutMs: integer(env, "GATEWAY_STREAM_TIMEOUT_MS", 15 * 60_000, 1),
      minTimeoutMs: integer(env, "GATEWAY_MIN_TIMEOUT_MS", 100, 0),
      maxConnections: integer(env, "GATEWAY_MAX_CONNECTIONS", 4096, 1),
      maxConnectionsPerIp: integer(env, "GATEWAY_MAX_CONNECTIONS_PER_IP", 256, 0),
      headersTimeoutMs: integer(env, "GATEWAY_HEADERS_TIMEOUT_MS", 10_000, 1),
      requestTimeoutMs: integer(env, "GATEWAY_REQUEST_TIMEOUT_MS", 60_000, 0),
      idleTimeoutMs: integer(env, "GATEWAY_IDLE_TIMEOUT_MS", 120_000, 1),
      maxConcurrentStreams: integer(env, "GATEWAY_MAX_CONCURRENT_STREAMS", 256, 1),
    },
    webRoot: env.GATEWAY_WEB_ROOT || fileURLToPath(new URL("../../web/dist", import.meta.url)),
    console: loadConsoleConfig(env, production),
  };
}
