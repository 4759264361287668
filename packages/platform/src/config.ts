/** Everything the platform needs to run one service process. */
export interface ServiceConfig {
  /** Service name, e.g. `billing`; `<NAME>_PORT` and `<NAME>_ADMIN_PORT` are read from its upper case. */
  name: string;
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

/** A service's own default ports, used when `<NAME>_PORT` / `<NAME>_ADMIN_PORT` are unset. */
export interface DefaultPorts {
  /** gRPC port. */
  port: number;
  /** Admin HTTP/1.1 port. */
  adminPort: number;
}

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
 * A list of positive integers from a comma-separated variable (`"1000,5000,30000"`): `fallback`
 * when unset or empty; throws {@link ConfigError} naming the variable when an item is not one.
 */
export function envIntegerList(env: NodeJS.ProcessEnv, key: string, fallback: readonly number[]): number[] {
  const raw = env[key];
  if (raw === undefined || raw.trim() === "") return [...fallback];
  const values = raw.split(",").map((item) => Number(item.trim()));
  if (values.some((value) => !Number.isSafeInteger(value) || value <= 0)) {
    throw new ConfigError(`${key} must be a comma-separated list of positive integers, got "${raw}"`);
  }
  return values;
}

/** The environment-variable prefix of a service: `billing` -> `BILLING`, `read-model` -> `READ_MODEL`. */
export function envPrefix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
}

/**
 * Reads a service's config from the environment: `<NAME>_PORT` and `<NAME>_ADMIN_PORT` (defaults
 * from `ports`), `HOST`, `LOG_LEVEL`, `SHUTDOWN_GRACE_MS`, `GRPC_MAX_MESSAGE_BYTES`,
 * `READINESS_INTERVAL_MS`, `HANDLE_SIGNALS`; throws {@link ConfigError} naming a malformed variable.
 */
export function loadServiceConfig(name: string, ports: DefaultPorts, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new ConfigError(`a service name is lower case letters, digits and "-", got "${name}"`);
  const prefix = envPrefix(name);
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  return {
    name,
    host: env.HOST || "0.0.0.0",
    port: envInteger(env, `${prefix}_PORT`, ports.port, { max: 65535 }),
    adminPort: envInteger(env, `${prefix}_ADMIN_PORT`, ports.adminPort, { max: 65535 }),
    logLevel,
    shutdownGraceMs: envInteger(env, "SHUTDOWN_GRACE_MS", 10_000),
    maxMessageBytes: envInteger(env, "GRPC_MAX_MESSAGE_BYTES", 4 * 1024 * 1024),
    readinessIntervalMs: envInteger(env, "READINESS_INTERVAL_MS", 2_000),
    handleSignals: env.HANDLE_SIGNALS !== "false",
  };
}
