import { randomUUID } from "node:crypto";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { callingAs } from "@shop/platform/testing/certificates";
import { type DomainMesh, startDomainMesh } from "./mesh-harness.js";

/** The saga tests' mesh (saga.test.ts, saga-failures.test.ts) with the clients they call it through. */
export interface SagaMesh {
  mesh: DomainMesh;
  /** The order service as the gateway calls it; a new client after `reconnectOrders`. */
  orders: GrpcClient<typeof OrderService>;
  /** Inventory and payment as the order service calls them, notification as the gateway does. */
  inventory: GrpcClient<typeof InventoryService>;
  payments: GrpcClient<typeof PaymentService>;
  notifications: GrpcClient<typeof NotificationService>;
  /** The seeded catalogue's SKUs. */
  skus: string[];
  /** Replaces `orders` with a fresh client (after the order process was restarted). */
  reconnectOrders(): void;
  /** The test's own product (the `test`-th seeded one), so stock arithmetic is exact. */
  productFor(test: number): string;
  /** Units of `sku` on sale now. */
  available(sku: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts the four services (`orderEnv` tunes the order service) and connects the clients. With
 * `orderBreaker: false` the order client has no circuit breaker, for tests that make calls fail.
 */
export async function startSagaMesh(orderEnv: Record<string, string>, options: { orderBreaker?: boolean } = {}): Promise<SagaMesh> {
  const mesh = await startDomainMesh(orderEnv);
  const connectOrders = () =>
    createClient(
      OrderService,
      mesh.order.target,
      options.orderBreaker === false ? { ...callingAs("gateway", "order"), breaker: false } : callingAs("gateway", "order"),
    );
  const inventory = createClient(InventoryService, mesh.inventory.target, callingAs("order", "inventory"));
  const saga: SagaMesh = {
    mesh,
    orders: connectOrders(),
    inventory,
    payments: createClient(PaymentService, mesh.payment.target, callingAs("order", "payment")),
    notifications: createClient(NotificationService, mesh.notification.target, callingAs("gateway", "notification")),
    skus: (await inventory.listProducts({ pageSize: 100 })).products.map((product) => product.sku),
    reconnectOrders() {
      saga.orders.close();
      saga.orders = connectOrders();
    },
    productFor(test) {
      const sku = saga.skus[test];
      if (!sku) throw new Error(`the seeded catalogue has fewer than ${test + 1} products`);
      return sku;
    },
    async available(sku) {
      return (await inventory.getProduct({ sku })).product?.availableQuantity ?? -1;
    },
    async close() {
      saga.orders.close();
      saga.inventory.close();
      saga.payments.close();
      saga.notifications.close();
      await mesh.close();
    },
  };
  return saga;
}

/** A CreateOrder request from alice for `quantity` of `sku`, with a fresh request id. */
export function orderRequest(sku: string, quantity: number, cardToken = "tok_visa") {
  return { requestId: randomUUID(), items: [{ sku, quantity }], cardToken, email: "alice@example.com" };
}
