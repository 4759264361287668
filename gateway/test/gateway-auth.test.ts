import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { errorInfo } from "@shop/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";
import { signToken, unsecuredToken } from "./tokens.js";

let fx: GatewayFixture;
beforeAll(async () => {
  fx = await startGatewayFixture();
});
afterAll(() => fx?.close());

function ordersWith(authorization?: string) {
  const transport = createConnectTransport({ baseUrl: fx.baseUrl, httpVersion: "1.1" });
  const client = createClient(OrderService, transport);
  const headers: Record<string, string> = authorization ? { authorization } : {};
  return () => client.listOrders({}, { headers });
}

async function failure(call: () => Promise<unknown>): Promise<ConnectError> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("gateway JWT auth", () => {
  it("answers UNAUTHENTICATED (MISSING_TOKEN) to an order call without a token, and the call never reaches order", async () => {
    const before = fx.calls.length;
    const error = await failure(ordersWith());
    expect(error.code).toBe(Code.Unauthenticated);
    expect(errorInfo(error)?.reason).toBe("MISSING_TOKEN");
    expect(fx.calls.length).toBe(before);
  });

  it("answers UNAUTHENTICATED to a token signed with another secret", async () => {
    const token = await signToken(fx.config.jwt, { secret: "another-secret-that-is-long-enough-0123456789" });
    expect((await failure(ordersWith(`Bearer ${token}`))).code).toBe(Code.Unauthenticated);
  });

  it("answers UNAUTHENTICATED to an alg:none token", async () => {
    expect((await failure(ordersWith(`Bearer ${unsecuredToken(fx.config.jwt)}`))).code).toBe(Code.Unauthenticated);
  });

  it("answers UNAUTHENTICATED (TOKEN_EXPIRED) to an expired token", async () => {
    const token = await signToken(fx.config.jwt, { expiresIn: -60 });
    const error = await failure(ordersWith(`Bearer ${token}`));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(errorInfo(error)?.reason).toBe("TOKEN_EXPIRED");
  });

  it("answers UNAUTHENTICATED to a token for another audience, another issuer, or without exp", async () => {
    for (const options of [{ aud: "someone-else" }, { iss: "evil-issuer" }, { expiresIn: null }]) {
      const token = await signToken(fx.config.jwt, options);
      expect((await failure(ordersWith(`Bearer ${token}`))).code, JSON.stringify(options)).toBe(Code.Unauthenticated);
    }
  });

  it("answers UNAUTHENTICATED to a malformed Authorization header", async () => {
    expect((await failure(ordersWith("Basic YWxpY2U6c2VjcmV0"))).code).toBe(Code.Unauthenticated);
  });

  it("forwards a valid token's subject as x-user-id and ignores the x-user-id the caller sent", async () => {
    const token = await signToken(fx.config.jwt, { sub: "alice" });
    const transport = createConnectTransport({ baseUrl: fx.baseUrl, httpVersion: "1.1" });
    const response = await createClient(OrderService, transport).listOrders(
      {},
      { headers: { authorization: `Bearer ${token}`, "x-user-id": "mallory" } },
    );
    expect(response.orders[0]?.userId).toBe("alice");
    expect(fx.calls.at(-1)).toMatchObject({ method: "ListOrders", userId: "alice" });
  });

  it("lets anonymous callers read products, without any x-user-id reaching inventory even if they send one", async () => {
    const transport = createConnectTransport({ baseUrl: fx.baseUrl, httpVersion: "1.1" });
    const response = await createClient(InventoryService, transport).getProduct({ sku: "SKU-9" }, { headers: { "x-user-id": "mallory" } });
    expect(response.product?.sku).toBe("SKU-9");
    expect(fx.calls.at(-1)).toMatchObject({ method: "GetProduct", userId: null });
  });
});

describe("policy from the environment", () => {
  let only: GatewayFixture;
  beforeAll(async () => {
    only = await startGatewayFixture({ GATEWAY_FRONTED_SERVICES: "shop.inventory.v1.InventoryService", GATEWAY_ANONYMOUS_SERVICES: "" });
  });
  afterAll(() => only?.close());

  it("asks for a token for product reads when GATEWAY_ANONYMOUS_SERVICES is empty", async () => {
    const anonymous = await fetch(`${only.baseUrl}/v1/products/SKU-1`);
    expect(anonymous.status).toBe(401);
    const token = await signToken(only.config.jwt);
    expect((await fetch(`${only.baseUrl}/v1/products/SKU-1`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it("exposes nothing of a service left out of GATEWAY_FRONTED_SERVICES", async () => {
    const token = await signToken(only.config.jwt);
    const before = only.calls.length;
    expect((await fetch(`${only.baseUrl}/v1/orders`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    const orders = createClient(OrderService, createConnectTransport({ baseUrl: only.baseUrl, httpVersion: "1.1" }));
    const error = await failure(() => orders.listOrders({}, { headers: { authorization: `Bearer ${token}` } }));
    expect(error.code).toBe(Code.NotFound);
    expect(only.calls.length).toBe(before);
  });
});
