import type { Logger } from "@shop/platform";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { GatewayConfig } from "../config.js";
import { leaseTaker } from "./rate-lease-worker.js";

/** The outcome of asking the limiter for one call. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Per-caller admission: `take(key)` spends one call of that caller's allowance. */
export interface RateLimiter {
  take(key: string): Promise<RateDecision>;
}

/** Where the counters live: this process, or the cluster primary (shared by every worker). */
export type RateLimitStore = "process" | "cluster";

// The key prefix of the counters in this process (the fallback, or the only limiter with GATEWAY_WORKERS=1).
const KEY_PREFIX = "gateway-rate-limit";

/**
 * The window the configured rates map to: `burst` calls per window of `burst / perSecond` seconds
 * (100 and 50/s: 100 calls per 2 s). A fixed window, not a sliding one: across a window's edge a
 * caller can get up to 2 x burst calls in quick succession, never more than `burst` per window.
 */
export function rateLimitWindow(rate: GatewayConfig["rateLimit"]): { points: number; duration: number } {
  return { points: rate.burst, duration: rate.burst / rate.perSecond };
}

/**
 * A limiter with the configured window. With `store: "cluster"` (a node:cluster worker) each call
 * spends a share of the caller's window that the primary leased to this worker, so N workers together
 * allow the configured rate, not N times it; should the primary not answer an ask in time, this
 * worker's own counters decide the calls that waited for it instead (logged), so calls go on.
 */
export function createRateLimiter(rate: GatewayConfig["rateLimit"], store: RateLimitStore, logger: Logger): RateLimiter {
  const window = rateLimitWindow(rate);
  const local = new RateLimiterMemory({ ...window, keyPrefix: KEY_PREFIX });
  const decide = (result: unknown): RateDecision => {
    if (result instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, result.msBeforeNext) };
    throw result;
  };
  const takeLocal = (key: string) => local.consume(key).then(() => ({ allowed: true }) as const, decide);
  if (store === "process") return { take: takeLocal };
  const takeShared = leaseTaker(window, 1_000);
  return {
    take(key) {
      return takeShared(key).catch((error: unknown) => {
        logger.warn({ err: error }, "shared rate limit unanswered; this worker's own counters decide");
        return takeLocal(key);
      });
    },
  };
}
