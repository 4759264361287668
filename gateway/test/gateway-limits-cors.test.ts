import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { retryInfo } from "@shop/platform";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";
import { signToken } from "./tokens.js";

let fx: GatewayFixture;
beforeAll(async () => {
  fx = await startGatewayFixture({ GATEWAY_RATE_LIMIT_BURST: "3", GATEWAY_RATE_LIMIT_PER_SECOND: "1" });
});
afterAll(() => fx?.close());

describe("per-caller rate limit", () => {
  it("answers HTTP 429 with Retry-After once a caller's bucket is empty, without calling upstream", async () => {
    const token = await signToken(fx.config.jwt, { sub: "greedy" });
    const headers = { authorization: `Bearer ${token}` };
    const statuses: number[] = [];
    // The limiter's window is the clock's: held still, no refill can land between the calls however slow they are.
    const clock = vi.spyOn(Date, "now").mockReturnValue(Date.now());
    let limited: Response;
    let before: number;
    try {
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${fx.baseUrl}/v1/products/a`, { headers })).status);
      before = fx.calls.length;
      limited = await fetch(`${fx.baseUrl}/v1/products/a`, { headers });
    } finally {
      clock.mockRestore();
    }
    expect(statuses).toEqual([200, 200, 200]);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ code: "resource_exhausted" });
    expect(fx.calls.length).toBe(before);
  });

  it("answers RESOURCE_EXHAUSTED with RetryInfo over Connect, keyed per identity (another user is unaffected)", async () => {
    const client = createClient(InventoryService, createConnectTransport({ baseUrl: fx.baseUrl, httpVersion: "1.1" }));
    const dave = { authorization: `Bearer ${await signToken(fx.config.jwt, { sub: "dave" })}` };
    const erin = { authorization: `Bearer ${await signToken(fx.config.jwt, { sub: "erin" })}` };
    const clock = vi.spyOn(Date, "now").mockReturnValue(Date.now());
    let error: unknown;
    try {
      for (let i = 0; i < 3; i++) await client.getProduct({ sku: "a" }, { headers: dave });
      error = await client.getProduct({ sku: "a" }, { headers: dave }).catch((e: unknown) => e);
    } finally {
      clock.mockRestore();
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(Number(retryInfo(error)?.retryDelay?.seconds ?? 0) + (retryInfo(error)?.retryDelay?.nanos ?? 0)).toBeGreaterThan(0);
    await expect(client.getProduct({ sku: "a" }, { headers: erin })).resolves.toBeDefined();
  });
});

describe("the anonymous caller's address for the rate limit", () => {
  /** Statuses of `n` anonymous REST calls, each with this X-Forwarded-For (the limiter's clock held still). */
  async function anonymousStatuses(fixture: GatewayFixture, forwardedFor: string[]): Promise<number[]> {
    const clock = vi.spyOn(Date, "now").mockReturnValue(Date.now());
    try {
      const statuses: number[] = [];
      for (const xff of forwardedFor)
        statuses.push((await fetch(`${fixture.baseUrl}/v1/products/a`, { headers: { "x-forwarded-for": xff } })).status);
      return statuses;
    } finally {
      clock.mockRestore();
    }
  }

  it("is the socket's peer unless a proxy is trusted: a made-up X-Forwarded-For buys no fresh allowance", async () => {
    const own = await startGatewayFixture({ GATEWAY_RATE_LIMIT_BURST: "3", GATEWAY_RATE_LIMIT_PER_SECOND: "1" });
    try {
      expect(await anonymousStatuses(own, ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"])).toEqual([200, 200, 200, 429]);
    } finally {
      await own.close();
    }
  });

  it("behind a trusted proxy is the address it forwards: each client its own allowance, a spoofed entry left of it ignored", async () => {
    const behind = await startGatewayFixture({
      GATEWAY_RATE_LIMIT_BURST: "3",
      GATEWAY_RATE_LIMIT_PER_SECOND: "1",
      GATEWAY_TRUSTED_PROXIES: "127.0.0.1, ::1",
    });
    try {
      const first = ["203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.7"];
      expect(await anonymousStatuses(behind, first)).toEqual([200, 200, 200, 429]);
      // Another client behind the same proxy still has its allowance; the first one cannot borrow it
      // by writing that client's address in front of its own.
      expect(await anonymousStatuses(behind, ["203.0.113.8, 203.0.113.7", "203.0.113.8"])).toEqual([429, 200]);
      // The lean Connect path reads the same header.
      const client = createClient(InventoryService, createConnectTransport({ baseUrl: behind.baseUrl, httpVersion: "1.1" }));
      const clock = vi.spyOn(Date, "now").mockReturnValue(Date.now());
      try {
        const refused = await client.getProduct({ sku: "a" }, { headers: { "x-forwarded-for": "203.0.113.7" } }).catch((e: unknown) => e);
        expect((refused as ConnectError).code).toBe(Code.ResourceExhausted);
        await expect(client.getProduct({ sku: "a" }, { headers: { "x-forwarded-for": "203.0.113.9" } })).resolves.toBeDefined();
      } finally {
        clock.mockRestore();
      }
    } finally {
      await behind.close();
    }
  });
});

describe("CORS", () => {
  it("answers a preflight from an allowed origin with that origin and the Connect headers", async () => {
    const response = await fetch(`${fx.baseUrl}/shop.inventory.v1.InventoryService/GetProduct`, {
      method: "OPTIONS",
      headers: {
        origin: "http://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("http://shop.example");
    expect(response.headers.get("access-control-allow-headers")).toContain("connect-protocol-version");
  });

  it("refuses a preflight from any other origin and adds no CORS headers to its requests", async () => {
    const preflight = await fetch(`${fx.baseUrl}/v1/products`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "GET" },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const simple = await fetch(`${fx.baseUrl}/v1/products`, { headers: { origin: "http://evil.example" } });
    expect(simple.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("adds CORS headers to actual requests from the allowed origin", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/products`, { headers: { origin: "http://shop.example" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("http://shop.example");
    expect(response.headers.get("access-control-expose-headers")).toContain("retry-after");
  });
});
