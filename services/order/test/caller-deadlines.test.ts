import { randomUUID } from "node:crypto";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { callingAs } from "@shop/platform/testing/certificates";
import type { ServiceProcess } from "@shop/platform/testing/service-process";
import { waitFor } from "@shop/platform/testing/wait";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DomainMesh, startDomainMesh } from "./mesh-harness.js";

const alice = { headers: { "x-user-id": "alice" } };

let mesh: DomainMesh;
let orders: GrpcClient<typeof OrderService>;
let skus: string[];

beforeAll(async () => {
  mesh = await startDomainMesh();
  orders = createClient(OrderService, mesh.order.target, { ...callingAs("gateway", "order"), breaker: false, retry: false });
  const inventory = createClient(InventoryService, mesh.inventory.target, callingAs("order", "inventory"));
  skus = (await inventory.listProducts({ pageSize: 2 })).products.map((p) => p.sku);
  inventory.close();
}, 90_000);

afterAll(async () => {
  orders?.close();
  await mesh?.close();
});

/** An order for one unit of the test's own product (the first for payment's test, the second for inventory's). */
function order(product: 0 | 1) {
  return { requestId: randomUUID(), items: [{ sku: skus[product] ?? "", quantity: 1 }], cardToken: "tok_visa", email: "alice@example.com" };
}

/** The order service's breaker gauge for a target: 1 open (or half-open), 0 closed. */
async function breakerOpen(target: ServiceProcess): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${mesh.order.adminPort}/metrics`)).text();
  const line = metrics.split("\n").find((l) => l.startsWith(`grpc_client_circuit_open{grpc_target="${target.target}"}`));
  return Number(line?.split(" ").at(-1));
}

/**
 * Order's outgoing calls to `target` cut short by the caller's deadline so far: DEADLINE_EXCEEDED (the
 * propagated deadline passed during the call) or CANCELLED (the incoming call, cancelled at its own
 * deadline, cut its child first — which of the two timers fires first is a race). While `target` is
 * frozen nothing else ends a call, and neither outcome may count against the breaker.
 */
async function deadlinesTo(target: ServiceProcess): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${mesh.order.adminPort}/metrics`)).text();
  return metrics
    .split("\n")
    .filter(
      (l) =>
        l.startsWith("grpc_client_handled_total{") &&
        l.includes(`grpc_target="${target.target}"`) &&
        (l.includes("DEADLINE_EXCEEDED") || l.includes('"CANCELLED"')),
    )
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

/**
 * Places orders with caller deadlines far shorter than the saga's step budget (3 s) while `frozen`
 * answers nothing: each deadline passes in order, during its own work or its call to `frozen`, and
 * order's call there ends DEADLINE_EXCEEDED under the caller's deadline — until at least `atLeast` did.
 */
async function shortDeadlinesWhileFrozen(frozen: ServiceProcess, deadlines: number[], atLeast: number): Promise<void> {
  const before = await deadlinesTo(frozen);
  frozen.signal("SIGSTOP");
  try {
    for (let round = 0; round < 5 && (await deadlinesTo(frozen)) - before < atLeast; round++) {
      for (const timeoutMs of deadlines) {
        // What the caller gets back does not matter here (DEADLINE_EXCEEDED, or a PENDING order left to
        // recovery once a breaker is open): what order's own calls ended with does.
        await orders.createOrder(order(frozen === mesh.payment ? 0 : 1), { ...alice, timeoutMs }).catch(() => undefined);
      }
    }
  } finally {
    frozen.signal("SIGCONT");
  }
  // The last call's outcome is counted when its status reaches order's client, which may be just after the caller's.
  await waitFor(async () => (await deadlinesTo(frozen)) - before >= atLeast, {
    timeoutMs: 5_000,
    what: `${atLeast} calls from order to ${frozen.name} cut short by the caller's deadline`,
  });
}

describe("a caller's short deadline, propagated through order, trips none of order's breakers", () => {
  it("to payment: CreateOrders whose deadline passes before AuthorizePayment leave the breaker closed; the next order confirms", async () => {
    // The deadline must pass after ReserveStock returned and before AuthorizePayment starts (a call
    // cut mid-flight by its parent ends CANCELLED): spread them, and go on until enough did.
    await shortDeadlinesWhileFrozen(
      mesh.payment,
      Array.from({ length: 16 }, (_, i) => 30 + 20 * i),
      6,
    );
    // Before: five consecutive DEADLINE_EXCEEDED opened it, and every order failed fast for 5 s.
    expect(await breakerOpen(mesh.payment)).toBe(0);
    expect(await breakerOpen(mesh.inventory)).toBe(0);
    const { order: placed } = await orders.createOrder(order(0), alice);
    expect(placed?.status).toBe(OrderStatus.CONFIRMED);
  }, 60_000);

  it("to inventory: CreateOrders whose deadline passes before ReserveStock leave the breaker closed; the next order confirms", async () => {
    await shortDeadlinesWhileFrozen(mesh.inventory, [5, 10, 20, 40, 80, 160], 6);
    expect(await breakerOpen(mesh.inventory)).toBe(0);
    const { order: placed } = await orders.createOrder(order(1), alice);
    expect(placed?.status).toBe(OrderStatus.CONFIRMED);
  }, 60_000);
});
