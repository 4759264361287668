import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";
import { signToken } from "./tokens.js";

let fx: GatewayFixture;
let token: string;
beforeAll(async () => {
  fx = await startGatewayFixture();
  token = await signToken(fx.config.jwt, { sub: "carol" });
});
afterAll(() => fx?.close());

describe("REST routes transcoded from google.api.http", () => {
  it("GET /v1/products/{sku} binds the path variable and answers proto3 JSON", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/products/SKU%2B42`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    expect(await response.json()).toEqual({
      product: { sku: "SKU+42", name: "Product SKU+42", price: { currencyCode: "EUR", amountMinor: "1999" }, availableQuantity: 7 },
    });
  });

  it("GET /v1/products maps query parameters (snake_case or lowerCamel) onto request fields", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/products?page_size=5&pageToken=abc`);
    expect(response.status).toBe(200);
    expect(fx.calls.at(-1)).toMatchObject({ method: "ListProducts", request: { pageSize: 5, pageToken: "abc" } });
  });

  it("answers 400 INVALID_ARGUMENT for a query parameter that is not a field", async () => {
    const before = fx.calls.length;
    const response = await fetch(`${fx.baseUrl}/v1/products?colour=red`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_argument" });
    expect(fx.calls.length).toBe(before);
  });

  it("maps an upstream NOT_FOUND to HTTP 404 with Connect error JSON and its details", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/products/missing`);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { code: string; details: { type: string; debug?: { reason?: string } }[] };
    expect(body.code).toBe("not_found");
    expect(body.details.map((d) => d.type)).toContain("google.rpc.ErrorInfo");
  });

  it('POST /v1/orders maps the whole JSON body (body: "*") and the verified user', async () => {
    const response = await fetch(`${fx.baseUrl}/v1/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-user-id": "mallory" },
      body: JSON.stringify({
        requestId: "req-1",
        items: [{ sku: "SKU-1", quantity: 2 }],
        card_token: "tok_visa",
        email: "carol@example.com",
      }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { order: { userId: string } }).order.userId).toBe("carol");
    expect(fx.calls.at(-1)).toMatchObject({
      method: "CreateOrder",
      userId: "carol",
      request: { requestId: "req-1", cardToken: "tok_visa", items: [{ sku: "SKU-1", quantity: 2 }] },
    });
  });

  it("POST /v1/orders/{order_id}:cancel binds the path variable over the body", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/orders/ord-9:cancel`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "changed my mind" }),
    });
    expect(response.status).toBe(200);
    expect(fx.calls.at(-1)).toMatchObject({ method: "CancelOrder", request: { orderId: "ord-9", reason: "changed my mind" } });
  });

  it("answers 400 for a body that is not JSON, and 401 for orders without a token", async () => {
    const bad = await fetch(`${fx.baseUrl}/v1/orders`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{nope" });
    expect(bad.status).toBe(400);
    const anonymous = await fetch(`${fx.baseUrl}/v1/orders/ord-1`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: "unauthenticated" });
  });

  it("streams GET /v1/orders/{order_id}:watch as one JSON object per line", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/orders/ord-5:watch`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { result: { order: { status: string } } });
    expect(lines.map((line) => line.result.order.status)).toEqual(["ORDER_STATUS_PENDING", "ORDER_STATUS_CONFIRMED"]);
    expect(fx.calls.at(-1)).toMatchObject({ method: "WatchOrder", request: { orderId: "ord-5" } });
  });

  it("cancels the upstream stream when a REST caller leaves mid-stream, and not when a call completes", async () => {
    const before = fx.calls.filter((c) => c.method === "WatchOrder:cancelled").length;
    const leaving = new AbortController();
    const response = await fetch(`${fx.baseUrl}/v1/orders/ord-never-final:watch`, {
      headers: { authorization: `Bearer ${token}` },
      signal: leaving.signal,
    });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(JSON.parse(first.trim())).toMatchObject({ result: { order: { status: "ORDER_STATUS_PENDING" } } });
    leaving.abort();
    const deadline = Date.now() + 5_000;
    while (fx.calls.filter((c) => c.method === "WatchOrder:cancelled").length === before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(fx.calls.filter((c) => c.method === "WatchOrder:cancelled")).toHaveLength(before + 1);
    // A completed unary call is not turned into a cancellation afterwards.
    expect((await fetch(`${fx.baseUrl}/v1/products/SKU-9`)).status).toBe(200);
  });

  it("answers 404 for paths that are no route, and RESOURCE_EXHAUSTED (HTTP 429) for a body over readMaxBytes", async () => {
    expect((await fetch(`${fx.baseUrl}/v1/payments/p1`)).status).toBe(404);
    const big = await fetch(`${fx.baseUrl}/v1/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ email: "x".repeat(fx.config.limits.readMaxBytes + 10) }),
    });
    expect(big.status).toBe(429);
    expect(await big.json()).toMatchObject({ code: "resource_exhausted" });
  });
});

describe("development sign-in", () => {
  it("POST /dev/token mints a token the gateway accepts for that user", async () => {
    const minted = await fetch(`${fx.baseUrl}/dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "frank" }),
    });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    const response = await fetch(`${fx.baseUrl}/v1/orders`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(fx.calls.at(-1)).toMatchObject({ method: "ListOrders", userId: "frank" });
  });

  it("refuses a user name with characters outside the allowed set", async () => {
    const response = await fetch(`${fx.baseUrl}/dev/token`, { method: "POST", body: JSON.stringify({ user: "a b" }) });
    expect(response.status).toBe(400);
  });
});
