import type { DescService } from "@bufbuild/protobuf";
import type { ChannelOptions } from "@grpc/grpc-js";

/** Retry policy applied through grpc-js's service config (exponential back-off with jitter). */
export interface RetryOptions {
  /** Attempts including the first; grpc-js caps this at 5. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}

/** Default retry policy: 4 attempts, 100 ms doubling to at most 2 s. */
export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 2_000, backoffMultiplier: 2 };

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

/**
 * The grpc-js service config for a client: round_robin over every address the target resolves
 * to, and (unless disabled) retries on UNAVAILABLE only — the one code that means "the request
 * was not processed", so retrying is safe for any method.
 */
export function serviceConfig(service: DescService, retry: RetryOptions | false): object {
  return {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig: retry
      ? [
          {
            name: [{ service: service.typeName }],
            retryPolicy: {
              maxAttempts: retry.maxAttempts,
              initialBackoff: seconds(retry.initialBackoffMs),
              maxBackoff: seconds(retry.maxBackoffMs),
              backoffMultiplier: retry.backoffMultiplier,
              retryableStatusCodes: ["UNAVAILABLE"],
            },
          },
        ]
      : [],
  };
}

/** What shapes a client channel. */
export interface ChannelSettings {
  retry: RetryOptions | false;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxMessageBytes: number;
  extra?: ChannelOptions;
}

/** grpc-js channel options: service config, keep-alive pings, message size limits, no channelz. */
export function channelOptions(service: DescService, settings: ChannelSettings): ChannelOptions {
  return {
    "grpc.service_config": JSON.stringify(serviceConfig(service, settings.retry)),
    "grpc.enable_retries": settings.retry ? 1 : 0,
    "grpc.keepalive_time_ms": settings.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": settings.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": settings.maxMessageBytes,
    "grpc.max_send_message_length": settings.maxMessageBytes,
    // Not served anywhere, and its per-call bookkeeping is not free (see serve.ts).
    "grpc.enable_channelz": 0,
    ...settings.extra,
  };
}
