/** The services of the mesh that have a config of their own. */
export type ServiceName = "order" | "inventory" | "payment" | "notification" | "gateway";

/** Everything the platform needs to run one service process. */
export interface ServiceConfig {
  /** Service name, e.g. `inventory`. */
  name: ServiceName;
  /** Interface the gRPC and admin servers bind to. */
  host: string;
  /** gRPC (h2c) port; 0 picks a free one. */
  port: number;
  /** Admin HTTP/1.1 port (/metrics, /healthz, /readyz); 0 picks a free one. */
  adminPort: number;
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  logLevel: string;
  /** How long in-flight calls may take to finish after SIGTERM. */
  shutdownGraceMs: number;
  /** Largest message accepted or sent, in bytes. */
  maxMessageBytes: number;
  /** How often readiness checks run. */
  readinessIntervalMs: number;
  /** Whether serve() installs SIGTERM/SIGINT handlers that shut down and exit. */
  handleSignals: boolean;
}

const DEFAULT_PORTS: Record<ServiceName, [number, number]> = {
  order: [50051, 9051],
  inventory: [50052, 9052],
  payment: [50053, 9053],
  notification: [50054, 9054],
  gateway: [8080, 9080],
};

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** Raised when an environment variable is malformed; start-up should stop with its message. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * An integer setting from the environment: `fallback` when unset or empty, otherwise a whole number
 * within [`min`, `max`]; throws {@link ConfigError} naming the variable.
 */
export function envInteger(env: NodeJS.ProcessEnv, key: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(`${key} must be an integer ${range}, got "${raw}"`);
  }
  return value;
}

/**
 * Reads a service's config from the environment: `<NAME>_PORT`, `<NAME>_ADMIN_PORT`, `HOST`,
 * `LOG_LEVEL`, `SHUTDOWN_GRACE_MS`, `GRPC_MAX_MESSAGE_BYTES`, `READINESS_INTERVAL_MS`; throws
 * {@link ConfigError} naming the variable when one is malformed.
 */
export function loadServiceConfig(name: ServiceName, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const defaults = DEFAULT_PORTS[name];
  if (!defaults) throw new ConfigError(`unknown service "${String(name)}"`);
  const prefix = name.toUpperCase();
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  return {
    name,
    host: env.HOST || "0.0.0.0",
    port: envInteger(env, `${prefix}_PORT`, defaults[0], { max: 65535 }),
    adminPort: envInteger(env, `${prefix}_ADMIN_PORT`, defaults[1], { max: 65535 }),
    logLevel,
    shutdownGraceMs: envInteger(env, "SHUTDOWN_GRACE_MS", 10_000),
    maxMessageBytes: envInteger(env, "GRPC_MAX_MESSAGE_BYTES", 4 * 1024 * 1024),
    readinessIntervalMs: envInteger(env, "READINESS_INTERVAL_MS", 2_000),
    handleSignals: env.HANDLE_SIGNALS !== "false",
  };
}
