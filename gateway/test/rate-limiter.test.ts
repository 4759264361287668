import { createLogger } from "@shop/platform";
import { describe, expect, it } from "vitest";
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

  it("allows the key again once its window has passed", async () => {
    const limiter = createRateLimiter({ burst: 1, perSecond: 20 }, "process", silent);
    expect(await limiter.take("carol")).toEqual({ allowed: true });
    expect((await limiter.take("carol")).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await limiter.take("carol")).toEqual({ allowed: true });
  });
});
