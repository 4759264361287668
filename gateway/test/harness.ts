// Test harness: fake-but-real upstreams (small ServiceImpl objects on the platform's grpc-js
// serve(), port 0) and a real gateway in front of them, on port 0.
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { createClient, createLogger, loadServiceConfig, notFound, openAccess, type RunningServer, serve, service } from "@shop/platform";
import { callingAs, testCertificatesDir } from "@shop/platform/testing/certificates";
import { type GatewayConfig, loadGatewayConfig } from "../src/config.js";
import { type RunningGateway, startGateway } from "../src/gateway-server.js";
import { meshClientFactory, type UpstreamClient } from "../src/upstreams.js";

/** What an upstream saw of one call. */
export interface SeenCall {
  method: string;
  userId: string | null;
  traceparent: string | null;
  timeoutMs: number | undefined;
  request: unknown;
}

function seen(calls: SeenCall[], method: string, request: unknown, ctx: HandlerContext): void {
  calls.push({
    method,
    userId: ctx.requestHeader.get("x-user-id"),
    traceparent: ctx.requestHeader.get("traceparent"),
    timeoutMs: ctx.timeoutMs(),
    request,
  });
}

const product = (sku: string) => ({
  sku,
  name: `Product ${sku}`,
  description: "",
  price: { currencyCode: "EUR", amountMinor: 1999n },
  availableQuantity: 7,
});

/** In-test upstreams: every method records what reached it. */
function fakeServices(calls: SeenCall[]) {
  const inventory: ServiceImpl<typeof InventoryService> = {
    async getProduct(req, ctx) {
      seen(calls, "GetProduct", req, ctx);
      if (req.sku === "missing") throw notFound("PRODUCT_NOT_FOUND", { type: "product", name: req.sku });
      return { product: product(req.sku) };
    },
    async listProducts(req, ctx) {
      seen(calls, "ListProducts", req, ctx);
      // A page of 20 or more is that long (an answer over connect's 1 KiB compression threshold); else two products.
      const count = req.pageSize >= 20 ? req.pageSize : 2;
      return { products: Array.from({ length: count }, (_, i) => product(`SKU-${i + 1}`)), nextPageToken: "" };
    },
    async reserveStock(req, ctx) {
      seen(calls, "ReserveStock", req, ctx);
      return {};
    },
    async commitReservation(req, ctx) {
      seen(calls, "CommitReservation", req, ctx);
      return {};
    },
    async releaseReservation(req, ctx) {
      seen(calls, "ReleaseReservation", req, ctx);
      return {};
    },
    async restockProduct(req, ctx) {
      seen(calls, "RestockProduct", req, ctx);
      return {};
    },
  };
  const order = (orderId: string, status: OrderStatus, userId = "") =>
    create(OrderSchema, { orderId, userId, status, total: { currencyCode: "EUR", amountMinor: 1999n }, createTime: timestampNow() });
  const orders: ServiceImpl<typeof OrderService> = {
    async createOrder(req, ctx) {
      seen(calls, "CreateOrder", req, ctx);
      return { order: order("ord-1", OrderStatus.PENDING, ctx.requestHeader.get("x-user-id") ?? "") };
    },
    async getOrder(req, ctx) {
      seen(calls, "GetOrder", req, ctx);
      return { order: order(req.orderId, OrderStatus.CONFIRMED) };
    },
    async listOrders(req, ctx) {
      seen(calls, "ListOrders", req, ctx);
      return { orders: [order("ord-1", OrderStatus.CONFIRMED, ctx.requestHeader.get("x-user-id") ?? "")] };
    },
    async cancelOrder(req, ctx) {
      seen(calls, "CancelOrder", req, ctx);
      return { order: order(req.orderId, OrderStatus.CANCELLED) };
    },
    async *watchOrder(req, ctx) {
      seen(calls, "WatchOrder", req, ctx);
      yield { order: order(req.orderId, OrderStatus.PENDING) };
      if (req.orderId === "ord-never-final") {
        // Stays open until the caller leaves; records that the cancellation reached this hop.
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        seen(calls, "WatchOrder:cancelled", req, ctx);
        return;
      }
      yield { order: order(req.orderId, OrderStatus.CONFIRMED) };
    },
  };
  const notifications: ServiceImpl<typeof NotificationService> = {
    async getNotification(req, ctx) {
      seen(calls, "GetNotification", req, ctx);
      return { notification: { notificationId: req.notificationId } };
    },
    async listNotifications(req, ctx) {
      seen(calls, "ListNotifications", req, ctx);
      return { notifications: [] };
    },
  };
  return [
    service(InventoryService, inventory, openAccess(InventoryService)),
    service(OrderService, orders, openAccess(OrderService)),
    service(NotificationService, notifications, openAccess(NotificationService)),
  ];
}

/** A gateway in front of recording upstreams. */
export interface GatewayFixture {
  gateway: RunningGateway;
  upstream: RunningServer;
  config: GatewayConfig;
  calls: SeenCall[];
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Starts recording upstreams and a gateway; `env` overrides gateway variables (GATEWAY_RATE_LIMIT_BURST...).
 * `productionClients`: the gateway's own upstream clients (retries, breakers) instead of bare ones.
 */
export async function startGatewayFixture(
  env: Record<string, string> = {},
  { productionClients = false }: { productionClients?: boolean } = {},
): Promise<GatewayFixture> {
  const calls: SeenCall[] = [];
  const upstreamConfig = {
    ...loadServiceConfig("order", { port: 0, adminPort: 0, certRoot: testCertificatesDir() }, { HOST: "127.0.0.1", LOG_LEVEL: "silent" }),
    handleSignals: false,
  };
  const upstream = await serve(upstreamConfig, fakeServices(calls));
  const target = `127.0.0.1:${upstream.port}`;
  const config = loadGatewayConfig({
    GATEWAY_PORT: "0",
    GATEWAY_ADMIN_PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    GATEWAY_WORKERS: "1",
    ORDER_URL: target,
    INVENTORY_URL: target,
    NOTIFICATION_URL: target,
    GATEWAY_CORS_ORIGINS: "http://shop.example",
    ...env,
  });
  const gateway = await startGateway(config, {
    // As in main.ts: the edge passes each call's trace context explicitly, no AsyncLocalStorage.
    // Over mTLS as the gateway; the one recording upstream serves all three services, so no server identity is pinned.
    clientFactory: productionClients
      ? meshClientFactory(config, callingAs("gateway"))
      : (svc, t) =>
          createClient(svc, t, {
            ...callingAs("gateway"),
            transport: "http2",
            retry: false,
            breaker: false,
            implicitContext: false,
          }) as unknown as UpstreamClient,
    logger: createLogger("gateway", "silent"),
    rateLimitStore: "process",
  });
  return {
    gateway,
    upstream,
    config,
    calls,
    baseUrl: `http://127.0.0.1:${gateway.port}`,
    async close() {
      await gateway.close(200);
      await upstream.shutdown();
    },
  };
}
