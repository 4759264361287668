import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { createClient, errorInfo, type GrpcClient } from "@shop/platform";
import { callingAs } from "@shop/platform/testing/certificates";
import { refusal } from "@shop/platform/testing/errors";
import type { ServiceProcess } from "@shop/platform/testing/service-process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DomainMesh, startDomainMesh, startOrderReplica } from "./mesh-harness.js";

const grace = { headers: { "x-user-id": "grace" } };

// Replica A places orders and drives them: its recovery loop rejects an order left PENDING past a
// short timeout. Replica B never drives one (its recovery loop waits an hour), so whatever B's
// watcher sees after the first message is a change A made, heard through B's own queue on shop.events.
let mesh: DomainMesh;
let replicaB: ServiceProcess;
let ordersA: GrpcClient<typeof OrderService>;
let ordersB: GrpcClient<typeof OrderService>;
let inventory: GrpcClient<typeof InventoryService>;

beforeAll(async () => {
  mesh = await startDomainMesh({
    ORDER_PENDING_TIMEOUT_MS: "1500",
    ORDER_RECOVERY_INTERVAL_MS: "300",
    ORDER_MAX_RETRY_DELAY_MS: "300",
  });
  replicaB = await startOrderReplica(mesh, {
    ORDER_RECOVERY_INTERVAL_MS: "3600000",
    ORDER_WATCH_STREAMS_PER_USER: "2",
    LOG_LEVEL: "debug",
  });
  ordersA = createClient(OrderService, mesh.order.target, callingAs("gateway", "order"));
  ordersB = createClient(OrderService, replicaB.target, callingAs("gateway", "order"));
  inventory = createClient(InventoryService, mesh.inventory.target, callingAs("order", "inventory"));
}, 120_000);

afterAll(async () => {
  ordersA?.close();
  ordersB?.close();
  inventory?.close();
  await replicaB?.stop();
  await mesh?.close();
});

/** The first line `process` printed that `matches`, waiting for it to be written. */
async function logLine(process: ServiceProcess, matches: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = process.output.join("").split("\n").find(matches);
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no such line in ${process.name}'s output:\n${process.recentOutput()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("two order replicas on one database", () => {
  it("streams to a watcher on one replica the change another replica made, fed by the events (no database poll)", async () => {
    const [product] = (await inventory.listProducts({ pageSize: 1 })).products;
    const { order: placed } = await ordersA.createOrder(
      { requestId: randomUUID(), email: "grace@example.com", cardToken: "tok_unavailable", items: [{ sku: product!.sku, quantity: 1 }] },
      grace,
    );
    expect(placed?.status).toBe(OrderStatus.PENDING);

    const seen: OrderStatus[] = [];
    for await (const { order } of ordersB.watchOrder({ orderId: placed!.orderId }, { ...grace, signal: AbortSignal.timeout(60_000) })) {
      seen.push(order!.status);
    }

    expect(seen[0]).toBe(OrderStatus.PENDING);
    expect(seen.at(-1)).toBe(OrderStatus.REJECTED);
    // Replica B learned it from its queue on the events exchange, and made no change of its own.
    // (Its log lines are written in batches: wait for the line rather than expect it at once.)
    const receivedLine = await logLine(
      replicaB,
      (line) => line.includes('"event":"amqp.received"') && line.includes(`"messageId":"${placed!.orderId}.rejected"`),
    );
    expect(receivedLine).toContain('"type":"shop.order.v1.OrderRejected"');
    expect(replicaB.output.join("")).not.toContain('"msg":"order status changed"');
  });

  it("caps WatchOrder streams per caller on a replica with RESOURCE_EXHAUSTED (ORDER_WATCH_STREAMS_PER_USER)", async () => {
    const [product] = (await inventory.listProducts({ pageSize: 1 })).products;
    const { order } = await ordersA.createOrder(
      { requestId: randomUUID(), email: "grace@example.com", cardToken: "tok_unavailable", items: [{ sku: product!.sku, quantity: 1 }] },
      grace,
    );
    const controller = new AbortController();
    const open = async () => {
      const stream = ordersB.watchOrder({ orderId: order!.orderId }, { ...grace, signal: controller.signal })[Symbol.asyncIterator]();
      await stream.next();
      return stream;
    };
    await open();
    await open();
    const refused = await refusal(open());
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(errorInfo(refused)?.reason).toBe("TOO_MANY_WATCH_STREAMS");
    expect(errorInfo(refused)?.metadata).toMatchObject({ limit: "2", open: "2" });
    controller.abort();
  });
});
