import { createLogger } from "@shop/platform";
import { describe, expect, it, vi } from "vitest";
import { createRateLimiter, rateLimitWindow } from "../src/edge/rate-limiter.js";

const silent = createLogger("gateway", "silent");

describe("the rate limit's window", () => {
  it("is `burst` calls per burst/perSecond seconds", () => {
    expect(rateLimitWindow({ burst: 100, perSecond: 50 })).toEqual({ points: 100, duration: 2 });
    expect(rateLimitWindow({ burst: 10, perSecond: 4 })).toEqual({ points: 10, duration: 2.5 });
  });
});

describe("the in-process rate limiter (GATEWAY_WORKERS=1)", () => {
  it("allows a burst per key, then refuses with the time left in the window", async () => {
    const limiter = createRateLimiter({ burst: 2, perSecond: 1 }, "process", silent);
    expect(await limiter.take("alice")).toEqual({ allowed: true });
    expect(await limiter.take("alice")).toEqual({ allowed: true });
    const refused = await limiter.take("alice");
    expect(refused.allowed).toBe(false);
    const retryAfterMs = refused.allowed ? 0 : refused.retryAfterMs;
    expect(retryAfterMs).toBeGreaterThan(1_000);
    expect(retryAfterMs).toBeLessThanOrEqual(2_000);
    expect(await limiter.take("bob")).toEqual({ allowed: true });
  });

  it("allows the key again exactly when its window has passed, and forgets the key then", async () => {
    vi.useFakeTimers();
    try {
      const limiter = createRateLimiter({ burst: 1, perSecond: 20 }, "process", silent); // a 50 ms window
      expect(await limiter.take("carol")).toEqual({ allowed: true });
      vi.advanceTimersByTime(49);
      expect(await limiter.take("carol")).toEqual({ allowed: false, retryAfterMs: 1 });
      vi.advanceTimersByTime(1);
      expect(await limiter.take("carol")).toEqual({ allowed: true });
      // Each key's counter is dropped when its window ends, so one-off callers do not pile up.
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(50);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
