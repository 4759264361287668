import { ConfigError, envInteger, envPrefix } from "./env.js";
import { type ConnectionLimits, loadConnectionLimits } from "./server/connection-limits.js";
import { loadMeshTlsConfig, type MeshTlsConfig } from "./tls/mesh-tls.js";

export { ConfigError, envInteger, envIntegerList, envPrefix } from "./env.js";

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
  /** The workload's mesh certificate (mTLS for the server and its clients). */
  tls: MeshTlsConfig;
  /** Streams per connection and connection age (`GRPC_MAX_CONCURRENT_STREAMS`, `GRPC_MAX_CONNECTION_AGE_MS`, `..._GRACE_MS`). */
  connections: ConnectionLimits;
}

/** What a service brings of its own: default ports, and where development certificates are. */
export interface ServiceDefaults {
  /** gRPC port, used when `<NAME>_PORT` is unset. */
  port: number;
  /** Admin HTTP/1.1 port, used when `<NAME>_ADMIN_PORT` is unset. */
  adminPort: number;
  /** Folder of per-workload certificate folders (`<certRoot>/<name>/tls.crt`), used when CERTS_DIR and `<NAME>_TLS_DIR` are unset. */
  certRoot: string;
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/**
 * Reads a service's config from the environment: `<NAME>_PORT` and `<NAME>_ADMIN_PORT` (defaults
 * from `defaults`), `HOST`, `LOG_LEVEL`, `SHUTDOWN_GRACE_MS`, `GRPC_MAX_MESSAGE_BYTES`,
 * `READINESS_INTERVAL_MS`, `HANDLE_SIGNALS`, and the mesh certificate's (`MESH_TLS`, `<NAME>_TLS_DIR`,
 * `CERTS_DIR`, `MESH_TLS_REFRESH_MS`); throws {@link ConfigError} naming a malformed variable.
 */
export function loadServiceConfig(name: string, defaults: ServiceDefaults, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new ConfigError(`a service name is lower case letters, digits and "-", got "${name}"`);
  const prefix = envPrefix(name);
  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${env.LOG_LEVEL}"`);
  }
  return {
    name,
    host: env.HOST || "0.0.0.0",
    port: envInteger(env, `${prefix}_PORT`, defaults.port, { max: 65535 }),
    adminPort: envInteger(env, `${prefix}_ADMIN_PORT`, defaults.adminPort, { max: 65535 }),
    logLevel,
    shutdownGraceMs: envInteger(env, "SHUTDOWN_GRACE_MS", 10_000),
    maxMessageBytes: envInteger(env, "GRPC_MAX_MESSAGE_BYTES", 4 * 1024 * 1024),
    readinessIntervalMs: envInteger(env, "READINESS_INTERVAL_MS", 2_000),
    handleSignals: env.HANDLE_SIGNALS !== "false",
    tls: loadMeshTlsConfig(name, defaults.certRoot, env),
    connections: loadConnectionLimits(env),
  };
}
