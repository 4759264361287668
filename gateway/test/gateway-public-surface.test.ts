import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ServerReflection } from "@shop/contracts/grpc/reflection/v1/reflection_pb";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";
import { signToken } from "./tokens.js";

let fx: GatewayFixture;
beforeAll(async () => {
  fx = await startGatewayFixture();
});
afterAll(() => fx?.close());

const transports = {
  "Connect JSON": () => createConnectTransport({ baseUrl: fx.baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  "Connect binary over h2c": () => createConnectTransport({ baseUrl: fx.baseUrl, httpVersion: "2", useBinaryFormat: true }),
  "gRPC-Web": () => createGrpcWebTransport({ baseUrl: fx.baseUrl, httpVersion: "1.1" }),
  gRPC: () => createGrpcTransport({ baseUrl: fx.baseUrl }),
};

describe("the gateway's public surface", () => {
  it("is exactly the methods with google.api.http annotations", () => {
    expect(fx.gateway.methods.map((m) => m.path).sort()).toEqual([
      "/shop.inventory.v1.InventoryService/GetProduct",
      "/shop.inventory.v1.InventoryService/ListProducts",
      "/shop.notification.v1.NotificationService/GetNotification",
      "/shop.notification.v1.NotificationService/ListNotifications",
      "/shop.order.v1.OrderService/CancelOrder",
      "/shop.order.v1.OrderService/CreateOrder",
      "/shop.order.v1.OrderService/GetOrder",
      "/shop.order.v1.OrderService/ListOrders",
      "/shop.order.v1.OrderService/WatchOrder",
    ]);
  });

  for (const [name, transport] of Object.entries(transports)) {
    it(`serves a public method over ${name}`, async () => {
      const response = await createClient(InventoryService, transport()).getProduct({ sku: "SKU-1" });
      expect(response.product?.name).toBe("Product SKU-1");
    });

    it(`answers NOT_FOUND over ${name} for internal methods, which never reach a service`, async () => {
      const token = await signToken(fx.config.jwt);
      const headers = { authorization: `Bearer ${token}` };
      const before = fx.calls.length;
      const reserve = await createClient(InventoryService, transport())
        .reserveStock({ reservationId: "r1" }, { headers })
        .catch((e: unknown) => e);
      const payment = await createClient(PaymentService, transport())
        .getPayment({}, { headers })
        .catch((e: unknown) => e);
      for (const error of [reserve, payment]) {
        expect(error).toBeInstanceOf(ConnectError);
        expect((error as ConnectError).code).toBe(Code.NotFound);
      }
      expect(fx.calls.length).toBe(before);
    });
  }

  it("answers HTTP 404 with Connect error JSON for /shop.payment.v1.PaymentService/GetPayment", async () => {
    const response = await fetch(`${fx.baseUrl}/shop.payment.v1.PaymentService/GetPayment`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(404);
    const body = (await response.json()) as { code: string; details: { type: string }[] };
    expect(body.code).toBe("not_found");
    expect(body.details.map((d) => d.type)).toEqual(["google.rpc.ErrorInfo", "google.rpc.ResourceInfo"]);
  });

  it("streams WatchOrder over Connect (HTTP/1.1 and h2c), gRPC-Web and gRPC (the lean unary path leaves streams to connect-node)", async () => {
    const token = await signToken(fx.config.jwt, { sub: "bob" });
    for (const transport of Object.values(transports).map((make) => make())) {
      const statuses: number[] = [];
      for await (const update of createClient(OrderService, transport).watchOrder(
        { orderId: "ord-7" },
        { headers: { authorization: `Bearer ${token}` } },
      )) {
        statuses.push(update.order?.status ?? -1);
      }
      expect(statuses).toEqual([1, 2]);
    }
    expect(fx.calls.at(-1)).toMatchObject({ method: "WatchOrder", userId: "bob" });
  });

  it("forwards the caller's deadline, capped at the configured maximum", async () => {
    const client = createClient(InventoryService, transports["Connect JSON"]());
    await client.getProduct({ sku: "a" }, { timeoutMs: 1_500 });
    const short = fx.calls.at(-1)?.timeoutMs ?? Infinity;
    expect(short).toBeLessThanOrEqual(1_500);
    expect(short).toBeGreaterThan(500);
    await client.getProduct({ sku: "b" });
    const capped = fx.calls.at(-1)?.timeoutMs ?? Infinity;
    expect(capped).toBeLessThanOrEqual(fx.config.limits.unaryMaxTimeoutMs);
    expect(capped).toBeGreaterThan(fx.config.limits.unaryMaxTimeoutMs - 5_000);
  });

  it("keeps the caller's W3C trace id on the calls it forwards, unary and streaming, and starts one when there is none", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
    const forwarded = new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`); // sampling is the platform tracer's decision
    await createClient(InventoryService, transports["Connect JSON"]()).getProduct({ sku: "t" }, { headers: { traceparent } });
    expect(fx.calls.at(-1)?.traceparent).toMatch(forwarded);
    const token = await signToken(fx.config.jwt, { sub: "bob" });
    for await (const _update of createClient(OrderService, transports["Connect JSON"]()).watchOrder(
      { orderId: "ord-7" },
      { headers: { authorization: `Bearer ${token}`, traceparent } },
    )) {
      // drain the stream
    }
    expect(fx.calls.at(-1)).toMatchObject({ method: "WatchOrder", traceparent: expect.stringMatching(forwarded) });
    await createClient(InventoryService, transports["Connect JSON"]()).getProduct({ sku: "u" });
    expect(fx.calls.at(-1)?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(fx.calls.at(-1)?.traceparent).not.toContain(traceId);
  });

  it("reflects only the public services and methods", async () => {
    const client = createClient(ServerReflection, transports.gRPC());
    async function* requests() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "shop.payment.v1.PaymentService" } };
    }
    const answers = [];
    for await (const answer of client.serverReflectionInfo(requests())) answers.push(answer.messageResponse);
    expect(answers[0]?.case).toBe("listServicesResponse");
    const names = answers[0]?.case === "listServicesResponse" ? answers[0].value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual([
      "shop.inventory.v1.InventoryService",
      "shop.notification.v1.NotificationService",
      "shop.order.v1.OrderService",
    ]);
    expect(answers[1]?.case).toBe("errorResponse");
  });
});
