import { describe, expect, it } from "vitest";
import { createRateLimiter } from "../src/edge/rate-limiter.js";

describe("token-bucket rate limiter", () => {
  it("allows a burst, then refuses with the time until the next token, then refills", () => {
    const limiter = createRateLimiter({ burst: 2, perSecond: 4 });
    expect(limiter.take("alice", 0)).toEqual({ allowed: true });
    expect(limiter.take("alice", 0)).toEqual({ allowed: true });
    expect(limiter.take("alice", 0)).toEqual({ allowed: false, retryAfterMs: 250 });
    expect(limiter.take("bob", 0)).toEqual({ allowed: true });
    expect(limiter.take("alice", 250)).toEqual({ allowed: true });
  });

  it("drops full idle buckets when the key limit is reached, so memory stays bounded", () => {
    const limiter = createRateLimiter({ burst: 1, perSecond: 1, maxKeys: 2 });
    limiter.take("a", 0);
    limiter.take("b", 0);
    expect(limiter.take("c", 10_000)).toEqual({ allowed: true });
    expect(limiter.take("a", 10_000)).toEqual({ allowed: true });
  });
});
