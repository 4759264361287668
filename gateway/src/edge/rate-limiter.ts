import type { Logger } from "@shop/platform";
import {
  type RateLimiterAbstract,
  RateLimiterCluster,
  RateLimiterClusterMaster,
  RateLimiterMemory,
  RateLimiterRes,
} from "rate-limiter-flexible";
import type { GatewayConfig } from "../config.js";

/** The outcome of asking the limiter for one call. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Per-caller admission: `take(key)` spends one call of that caller's allowance. */
export interface RateLimiter {
  take(key: string): Promise<RateDecision>;
}

/** Where the counters live: this process, or the cluster primary (shared by every worker). */
export type RateLimitStore = "process" | "cluster";

// One name for the counters in the primary: every worker's limiter with this prefix shares them.
const KEY_PREFIX = "gateway-rate-limit";

/**
 * The window the configured rates map to: `burst` calls per window of `burst / perSecond` seconds
 * (100 and 50/s: 100 calls per 2 s). A fixed window, not a sliding one: across a window's edge a
 * caller can get up to 2 x burst calls in quick succession, never more than `burst` per window.
 */
export function rateLimitWindow(rate: GatewayConfig["rateLimit"]): { points: number; duration: number } {
  return { points: rate.burst, duration: rate.burst / rate.perSecond };
}

/** Installs the primary's side of the shared limiter: the counters every worker's `take` asks over IPC. */
export function serveSharedRateLimits(): void {
  new RateLimiterClusterMaster();
}

/**
 * A limiter with the configured window. With `store: "cluster"` (a node:cluster worker) each call
 * asks the primary, so N workers together allow the configured rate, not N times it; should the
 * primary not answer in time, this worker's own counters decide instead (logged), so calls go on.
 */
export function createRateLimiter(rate: GatewayConfig["rateLimit"], store: RateLimitStore, logger: Logger): RateLimiter {
  const window = rateLimitWindow(rate);
  const local = new RateLimiterMemory({ ...window, keyPrefix: KEY_PREFIX });
  const limiter: RateLimiterAbstract =
    store === "cluster" ? new RateLimiterCluster({ ...window, keyPrefix: KEY_PREFIX, timeoutMs: 1_000 }) : local;
  const decide = (result: unknown): RateDecision => {
    if (result instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, result.msBeforeNext) };
    throw result;
  };
  return {
    take(key) {
      return limiter.consume(key).then(
        () => ({ allowed: true }) as const,
        (rejection: unknown) => {
          if (rejection instanceof RateLimiterRes || limiter === local) return decide(rejection);
          logger.warn({ err: rejection }, "shared rate limit unanswered; this worker's own counters decide");
          return local.consume(key).then(() => ({ allowed: true }) as const, decide);
        },
      );
    },
  };
}
