import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import type { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { type Order, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import type { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { badRequest, createClient, errorInfo, type GrpcClient } from "@shop/platform";
import { callingAs } from "@shop/platform/testing/certificates";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainMesh } from "./mesh-harness.js";
import { orderRequest, type SagaMesh, startSagaMesh } from "./saga-harness.js";

const alice = { headers: { "x-user-id": "alice" } };
const bob = { headers: { "x-user-id": "bob" } };

let saga: SagaMesh;
let mesh: DomainMesh;
let orders: GrpcClient<typeof OrderService>;
let inventory: GrpcClient<typeof InventoryService>;
let payments: GrpcClient<typeof PaymentService>;
let notifications: GrpcClient<typeof NotificationService>;

beforeAll(async () => {
  saga = await startSagaMesh({
    ORDER_STEP_TIMEOUT_MS: "4000",
    ORDER_PENDING_TIMEOUT_MS: "60000",
    ORDER_SAGA_LEASE_MS: "1500",
    ORDER_RECOVERY_INTERVAL_MS: "300",
    ORDER_MAX_RETRY_DELAY_MS: "500",
  });
  ({ mesh, orders, inventory, payments, notifications } = saga);
}, 90_000);

afterAll(async () => {
  await saga?.close();
});

const productFor = (test: number) => saga.productFor(test);
const available = (sku: string) => saga.available(sku);
const order = orderRequest;

/** Holds all but `leave` units of a product with a reservation of the test's own. */
async function drainTo(sku: string, leave: number): Promise<void> {
  const hold = (await available(sku)) - leave;
  if (hold > 0) await inventory.reserveStock({ reservationId: `drain-${randomUUID()}`, lines: [{ sku, quantity: hold }] });
  expect(await available(sku)).toBe(leave);
}

async function paymentRowsFor(orderId: string): Promise<number> {
  return (await paymentIdsFor(orderId)).length;
}

async function paymentIdsFor(orderId: string): Promise<string[]> {
  const { rows } = await query<{ payment_id: string }>(mesh.databases.payment, "SELECT payment_id FROM payments WHERE order_id = $1", [
    orderId,
  ]);
  return rows.map((row) => row.payment_id);
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

/**
 * Every notification the order service owes so far has reached the notification service: its
 * outbox holds no unpublished row and the broker's queues hold no unacknowledged copy. After this, a
 * duplicate would already be recorded — no quiet window needed.
 */
async function allDelivered(): Promise<void> {
  await until(
    async () =>
      Number((await query<{ n: string }>(mesh.databases.order, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")).rows[0]?.n),
    (unpublished) => unpublished === 0,
  );
  await mesh.rabbit.drained();
}

/** The order once it is no longer PENDING (a loaded machine can leave a step to recovery). */
function settle(orderId: string) {
  return until(
    async () => (await orders.getOrder({ orderId }, alice)).order,
    (o) => o?.status !== OrderStatus.PENDING,
  );
}

/** Reads until `done` holds and returns that value; fails the test after `timeoutMs` with the last value read. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${String(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("CreateOrder runs the saga across real inventory, payment and order processes", () => {
  it("confirms an order: stock committed, payment captured, total priced by the inventory", async () => {
    const sku = productFor(0);
    const before = await available(sku);
    const price = (await inventory.getProduct({ sku })).product?.price;

    const { order: placed } = await orders.createOrder(order(sku, 2), alice);

    expect(placed?.status).toBe(OrderStatus.CONFIRMED);
    expect(placed?.total?.amountMinor).toBe((price?.amountMinor ?? 0n) * 2n);
    expect(placed?.lines[0]?.productName).not.toBe("");
    expect(await available(sku)).toBe(before - 2);
    const { payment } = await payments.getPayment({ paymentId: placed?.paymentId ?? "" });
    expect(payment?.state).toBe(PaymentState.CAPTURED);
    expect(payment?.amount?.amountMinor).toBe(placed?.total?.amountMinor);
  });

  it("sends one order_confirmed notification through the outbox and RabbitMQ", async () => {
    const { order: placed } = await orders.createOrder(order(productFor(0), 1), alice);

    await until(
      () => notifications.listNotifications({ orderId: placed?.orderId ?? "" }, alice),
      (page) => page.notifications.length > 0,
    );
    await allDelivered();
    const { notifications: sent } = await notifications.listNotifications({ orderId: placed?.orderId ?? "" }, alice);

    expect(sent).toHaveLength(1);
    expect(sent[0]?.template).toBe("order_confirmed");
    expect(sent[0]?.recipient).toBe("alice@example.com");
    expect(sent[0]?.body).toContain(placed?.orderId);
  });

  it("rejects a declined card with the reason, and gives the reserved stock back", async () => {
    const sku = productFor(1);
    const before = await available(sku);

    const { order: placed } = await orders.createOrder(order(sku, 1, "tok_declined"), alice);

    expect(placed?.status).toBe(OrderStatus.REJECTED);
    expect(placed?.statusReason).toMatch(/declined/);
    expect(await available(sku)).toBe(before);
  });

  it("rejects an order for more than is in stock as 'out of stock', holding nothing", async () => {
    const sku = productFor(2);
    await drainTo(sku, 1);

    const { order: placed } = await orders.createOrder(order(sku, 2), alice);

    expect(placed?.status).toBe(OrderStatus.REJECTED);
    expect(placed?.statusReason).toBe("out of stock");
    expect(await available(sku)).toBe(1);
  });

  it("lets exactly one of many parallel orders for the last unit win", async () => {
    const sku = productFor(3);
    await drainTo(sku, 1);

    const results = await Promise.all(Array.from({ length: 8 }, () => orders.createOrder(order(sku, 1), alice)));
    const settled = await Promise.all(results.map((result) => settle(result.order?.orderId ?? "")));

    const statuses = settled.map((o) => o?.status);
    expect(statuses.filter((status) => status === OrderStatus.CONFIRMED)).toHaveLength(1);
    expect(statuses.filter((status) => status === OrderStatus.REJECTED)).toHaveLength(7);
    expect(await available(sku)).toBe(0);
  });

  it("returns the same order for a retried request id, and charges once", async () => {
    const sku = productFor(4);
    const before = await available(sku);
    const request = order(sku, 1);

    const [first, concurrent] = await Promise.all([orders.createOrder(request, alice), orders.createOrder(request, alice)]);
    const later = await orders.createOrder(request, alice);

    expect(concurrent.order?.orderId).toBe(first.order?.orderId);
    expect(later.order?.orderId).toBe(first.order?.orderId);
    expect(later.order?.status).toBe(OrderStatus.CONFIRMED);
    // An answer given before the saga reached the payment has no id yet; every id given is the one payment's.
    const paymentIds = await paymentIdsFor(later.order?.orderId ?? "");
    expect(paymentIds).toEqual([later.order?.paymentId]);
    for (const answer of [first, concurrent]) expect([paymentIds[0], ""]).toContain(answer.order?.paymentId);
    expect(await available(sku)).toBe(before - 1);
  });

  it("refuses a request id reused for a different order with ALREADY_EXISTS", async () => {
    const request = order(productFor(4), 1);
    await orders.createOrder(request, alice);

    const error = await orders.createOrder({ ...request, items: [{ sku: productFor(4), quantity: 2 }] }, alice).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.AlreadyExists);
    expect(errorInfo(error)?.reason).toBe("REQUEST_ID_REUSED");
  });

  it("returns INVALID_ARGUMENT with a field violation for every bad field", async () => {
    const error = await orders
      .createOrder({ requestId: "", items: [{ sku: "", quantity: 0 }], cardToken: "", email: "not-an-address" }, alice)
      .catch((e: unknown) => e);

    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    const fields = badRequest(error)?.fieldViolations.map((violation) => violation.field);
    expect(fields).toEqual(expect.arrayContaining(["request_id", "items[0].sku", "items[0].quantity", "card_token", "email"]));
  });

  it("returns UNAUTHENTICATED when the caller's identity is missing", async () => {
    const error = await orders.createOrder(order(productFor(0), 1)).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
  });
});

describe("what the processes log at info", () => {
  it("never holds the customer's e-mail address, card token or message body, in any service, through a whole order", async () => {
    const email = `private-${randomUUID()}@example.com`;
    const { order: placed } = await orders.createOrder({ ...order(productFor(0), 1), email }, alice);
    const { notifications: sent } = await until(
      () => notifications.listNotifications({ orderId: placed?.orderId ?? "" }, alice),
      (page) => page.notifications.length > 0,
    );
    const body = sent[0]?.body ?? "";
    expect(body).toContain(placed?.orderId);
    // The notification service logs the delivery after it is sent: its line marks the end of the order's logging.
    await until(
      async () => mesh.notification.output.join(""),
      (text) => text.includes('"notification delivered"') && text.includes(placed?.orderId ?? "-"),
    );

    const processes = { order: mesh.order, inventory: mesh.inventory, payment: mesh.payment, notification: mesh.notification };
    for (const [name, process] of Object.entries(processes)) {
      const infoLines = process.output
        .join("")
        .split("\n")
        .filter((line) => line.startsWith("{") && line.endsWith("}") && (JSON.parse(line) as { level: number }).level <= 30);
      expect(infoLines.length, `${name} logged at info`).toBeGreaterThan(0);
      for (const secret of [email, "tok_visa", body]) {
        expect(
          infoLines.filter((line) => line.includes(secret)),
          `${name} logged "${secret}" at info`,
        ).toEqual([]);
      }
    }
  });
});

describe("reading and cancelling orders", () => {
  it("shows a caller only their own orders, a page at a time", async () => {
    for (let i = 0; i < 3; i++) await orders.createOrder(order(productFor(5), 1), bob);

    const first = await orders.listOrders({ pageSize: 2 }, bob);
    const second = await orders.listOrders({ pageSize: 2, pageToken: first.nextPageToken }, bob);

    expect(first.orders).toHaveLength(2);
    expect(first.nextPageToken).not.toBe("");
    expect(second.orders).toHaveLength(1);
    expect(second.nextPageToken).toBe("");
    expect([...first.orders, ...second.orders].every((o) => o.userId === "bob")).toBe(true);
    const someoneElses = await orders.getOrder({ orderId: first.orders[0]?.orderId ?? "" }, alice).catch((e: unknown) => e);
    expect((someoneElses as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(someoneElses)?.reason).toBe("ORDER_NOT_FOUND");
  });

  it("cancels a confirmed order: refunds the payment and restocks", async () => {
    const sku = productFor(6);
    const before = await available(sku);
    const { order: placed } = await orders.createOrder(order(sku, 3), alice);
    expect(await available(sku)).toBe(before - 3);

    const { order: cancelled } = await orders.cancelOrder({ orderId: placed?.orderId ?? "", reason: "changed my mind" }, alice);

    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    expect(await available(sku)).toBe(before);
    expect((await payments.getPayment({ paymentId: placed?.paymentId ?? "" })).payment?.state).toBe(PaymentState.REFUNDED);
    const again = await orders.cancelOrder({ orderId: placed?.orderId ?? "" }, alice);
    expect(again.order?.status).toBe(OrderStatus.CANCELLED);
  });

  it("refuses to cancel a rejected order with FAILED_PRECONDITION", async () => {
    const { order: rejected } = await orders.createOrder(order(productFor(6), 1, "tok_declined"), alice);
    const error = await orders.cancelOrder({ orderId: rejected?.orderId ?? "" }, alice).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("ORDER_NOT_CANCELLABLE");
  });
});

describe("when the payment service stalls", () => {
  it("WatchOrder streams PENDING, then CONFIRMED once recovery finishes the order", async () => {
    const sku = productFor(7);
    mesh.payment.signal("SIGSTOP");
    let placed: Order | undefined;
    try {
      ({ order: placed } = await orders.createOrder(order(sku, 1), alice));
    } finally {
      mesh.payment.signal("SIGCONT");
    }
    expect(placed?.status).toBe(OrderStatus.PENDING);

    const seen: OrderStatus[] = [];
    for await (const { order: update } of orders.watchOrder({ orderId: placed?.orderId ?? "" }, { ...alice, timeoutMs: 30_000 })) {
      if (update && seen[seen.length - 1] !== update.status) seen.push(update.status);
    }

    expect(seen).toEqual([OrderStatus.PENDING, OrderStatus.CONFIRMED]);
  });

  it("finishes an order after the order service is killed -9 between reserve and capture", async () => {
    const sku = productFor(8);
    const before = await available(sku);
    mesh.payment.signal("SIGSTOP"); // the authorization call will hang, in flight
    const inFlight = orders.createOrder(order(sku, 2), alice).catch((e: unknown) => e);
    await until(
      () => available(sku),
      (n) => n === before - 2,
    ); // stock reserved: the saga is past step one
    await mesh.order.kill9();
    expect(await inFlight).toBeInstanceOf(ConnectError);
    mesh.payment.signal("SIGCONT"); // the authorization goes through; its answer has nobody to go to

    await mesh.order.start();
    const restarted = createClient(OrderService, mesh.order.target, callingAs("gateway", "order"));
    try {
      // The channel may still be backing off from the refused connections of the crash.
      const listed = await until(
        () => restarted.listOrders({ pageSize: 1 }, alice).catch(() => undefined),
        (page) => page !== undefined,
      );
      const [pendingOrder] = listed?.orders ?? [];
      const settled = await until(
        async () => (await restarted.getOrder({ orderId: pendingOrder?.orderId ?? "" }, alice)).order,
        (o) => o?.status !== OrderStatus.PENDING,
      );

      expect(settled?.status).toBe(OrderStatus.CONFIRMED);
      expect(await available(sku)).toBe(before - 2);
      expect((await payments.getPayment({ paymentId: settled?.paymentId ?? "" })).payment?.state).toBe(PaymentState.CAPTURED);
      expect(await paymentRowsFor(settled?.orderId ?? "")).toBe(1);
    } finally {
      restarted.close();
    }
  });
});
