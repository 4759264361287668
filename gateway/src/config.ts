import { fileURLToPath } from "node:url";
import { ConfigError, envInteger, loadServiceConfig } from "@shop/platform";

/** Development-only HS256 secret; documented in gateway/README.md. Never use it outside a laptop. */
export const DEV_JWT_SECRET = "shop-mesh-dev-secret-change-me-0123456789";

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
  /** node:cluster workers sharing the public port; 1 runs in-process. */
  workers: number;
  upstreams: { order: string; inventory: string; notification: string };
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
  rateLimit: { burst: number; perSecond: number };
  limits: {
    readMaxBytes: number;
    /** Deadline cap for unary calls forwarded upstream. */
    unaryMaxTimeoutMs: number;
    /** Deadline cap for server streams (WatchOrder). */
    streamMaxTimeoutMs: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    maxConcurrentStreams: number;
  };
  /** Built storefront (web/dist); served at `/` when it exists. */
  webRoot: string;
}

/** Raised for a malformed variable; start-up stops with its message. */
export class GatewayConfigError extends ConfigError {
  override name = "GatewayConfigError";
}

function integer(env: NodeJS.ProcessEnv, key: string, fallback: number, min = 0): number {
  return envInteger(env, key, fallback, { min });
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
  return raw.split(",").map((item) => item.trim()).filter(Boolean);
}

/**
 * Reads the gateway's config from `GATEWAY_*`, `*_URL` and the platform's common variables (`HOST`,
 * `LOG_LEVEL`, `SHUTDOWN_GRACE_MS`); throws naming a bad variable.
 */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  // GATEWAY_PORT, GATEWAY_ADMIN_PORT, HOST, LOG_LEVEL and SHUTDOWN_GRACE_MS mean what they mean for every service.
  const common = loadServiceConfig("gateway", { port: 8080, adminPort: 9080 }, env);
  const secret = env.GATEWAY_JWT_SECRET || DEV_JWT_SECRET;
  if (Buffer.byteLength(secret) < 32) throw new GatewayConfigError("GATEWAY_JWT_SECRET must be at least 32 bytes for HS256");
  const jwksUrl = env.GATEWAY_JWKS_URL || undefined;
  if (jwksUrl !== undefined && !URL.canParse(jwksUrl)) throw new GatewayConfigError(`GATEWAY_JWKS_URL is not a URL: "${jwksUrl}"`);
  return {
    host: common.host,
    port: common.port,
    adminPort: common.adminPort,
    logLevel: common.logLevel,
    shutdownGraceMs: common.shutdownGraceMs,
    workers: integer(env, "GATEWAY_WORKERS", 2, 1),
    upstreams: {
      order: env.ORDER_URL || "127.0.0.1:50051",
      inventory: env.INVENTORY_URL || "127.0.0.1:50052",
      notification: env.NOTIFICATION_URL || "127.0.0.1:50054",
    },
    jwt: {
      secret,
      jwksUrl,
      jwksAlgorithms: list(env, "GATEWAY_JWKS_ALGORITHMS", ["RS256", "ES256"]),
      issuer: env.GATEWAY_JWT_ISSUER || "shop-mesh-dev",
      audience: env.GATEWAY_JWT_AUDIENCE || "shop-gateway",
      devTokenTtlSeconds: integer(env, "GATEWAY_DEV_TOKEN_TTL_SECONDS", 3600, 1),
    },
    devTokens: flag(env, "GATEWAY_DEV_TOKENS", true) && jwksUrl === undefined,
    corsOrigins: list(env, "GATEWAY_CORS_ORIGINS", ["http://localhost:5173"]),
    rateLimit: {
      burst: integer(env, "GATEWAY_RATE_LIMIT_BURST", 100, 1),
      perSecond: integer(env, "GATEWAY_RATE_LIMIT_PER_SECOND", 50, 1),
    },
    limits: {
      readMaxBytes: integer(env, "GATEWAY_READ_MAX_BYTES", 1024 * 1024, 1),
      unaryMaxTimeoutMs: integer(env, "GATEWAY_UNARY_TIMEOUT_MS", 30_000, 1),
      streamMaxTimeoutMs: integer(env, "GATEWAY_STREAM_TIMEOUT_MS", 15 * 60_000, 1),
      headersTimeoutMs: integer(env, "GATEWAY_HEADERS_TIMEOUT_MS", 10_000, 1),
      requestTimeoutMs: integer(env, "GATEWAY_REQUEST_TIMEOUT_MS", 60_000, 0),
      idleTimeoutMs: integer(env, "GATEWAY_IDLE_TIMEOUT_MS", 120_000, 1),
      maxConcurrentStreams: integer(env, "GATEWAY_MAX_CONCURRENT_STREAMS", 256, 1),
    },
    webRoot: env.GATEWAY_WEB_ROOT || fileURLToPath(new URL("../../web/dist", import.meta.url)),
  };
}
