/** The outcome of asking the limiter for one call. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** A per-key token bucket: `burst` calls at once, refilled at `perSecond`. */
export interface RateLimiter {
  take(key: string, now?: number): RateDecision;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/**
 * Creates an in-memory token-bucket limiter. Buckets are per process (each cluster worker keeps
 * its own), and idle full buckets are dropped so anonymous IPs cannot grow memory without bound.
 */
export function createRateLimiter(options: { burst: number; perSecond: number; maxKeys?: number }): RateLimiter {
  const buckets = new Map<string, Bucket>();
  const maxKeys = options.maxKeys ?? 100_000;
  const refillPerMs = options.perSecond / 1000;
  function sweep(now: number): void {
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + (now - bucket.updated) * refillPerMs >= options.burst) buckets.delete(key);
    }
  }
  return {
    take(key, now = Date.now()) {
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= maxKeys) sweep(now);
        bucket = { tokens: options.burst, updated: now };
        buckets.set(key, bucket);
      }
      bucket.tokens = Math.min(options.burst, bucket.tokens + (now - bucket.updated) * refillPerMs);
      bucket.updated = now;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { allowed: true };
      }
      return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / refillPerMs) };
    },
  };
}
