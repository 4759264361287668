import type { ChannelOptions } from "@grpc/grpc-js";
import { envInteger } from "../env.js";

/** How many streams and for how long one client connection may hold a server. */
export interface ConnectionLimits {
  /** Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
  /** After this long a connection is sent GOAWAY, so clients reconnect (and spread onto new replicas); 0 = never. */
  maxConnectionAgeMs: number;
  /** How long calls in flight on an aged connection may still finish before it is closed; 0 = as long as they take. */
  maxConnectionAgeGraceMs: number;
}

/**
 * Reads `GRPC_MAX_CONCURRENT_STREAMS` (default 1000: the gateway multiplexes all its callers onto one
 * connection per upstream, so this bounds the whole gateway's concurrency to a service, not one
 * user's), `GRPC_MAX_CONNECTION_AGE_MS` (default 30 min) and `GRPC_MAX_CONNECTION_AGE_GRACE_MS`
 * (default 15 min, the gateway's longest stream); throws `ConfigError` naming a malformed variable.
 */
export function loadConnectionLimits(env: NodeJS.ProcessEnv): ConnectionLimits {
  return {
    maxConcurrentStreams: envInteger(env, "GRPC_MAX_CONCURRENT_STREAMS", 1_000, { min: 1, max: 2 ** 31 - 1 }),
    maxConnectionAgeMs: envInteger(env, "GRPC_MAX_CONNECTION_AGE_MS", 30 * 60_000),
    maxConnectionAgeGraceMs: envInteger(env, "GRPC_MAX_CONNECTION_AGE_GRACE_MS", 15 * 60_000),
  };
}

/** The grpc-js server options for `limits` (an age or grace of 0 is left unset: grpc-js's "unlimited"). */
export function connectionLimitOptions(limits: ConnectionLimits): ChannelOptions {
  return {
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    ...(limits.maxConnectionAgeMs > 0 ? { "grpc.max_connection_age_ms": limits.maxConnectionAgeMs } : {}),
    ...(limits.maxConnectionAgeGraceMs > 0 ? { "grpc.max_connection_age_grace_ms": limits.maxConnectionAgeGraceMs } : {}),
  };
}
