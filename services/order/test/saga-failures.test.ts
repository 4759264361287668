import type { ConnectError } from "@connectrpc/connect";
import type { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import type { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { type Order, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import type { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, errorInfo, type GrpcClient } from "@shop/platform";
import { callingAs } from "@shop/platform/testing/certificates";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainMesh } from "./mesh-harness.js";
import { orderRequest, type SagaMesh, startSagaMesh } from "./saga-harness.js";

const alice = { headers: { "x-user-id": "alice" } };
const MAX_RETRY_DELAY_MS = 4_000;

let saga: SagaMesh;
let mesh: DomainMesh;
let orders: GrpcClient<typeof OrderService>;
let inventory: GrpcClient<typeof InventoryService>;
let payments: GrpcClient<typeof PaymentService>;
let notifications: GrpcClient<typeof NotificationService>;

beforeAll(async () => {
  saga = await startSagaMesh(
    {
      ORDER_STEP_TIMEOUT_MS: "1000",
      ORDER_PENDING_TIMEOUT_MS: "600000", // out of the way until the test that is about it
      ORDER_SAGA_LEASE_MS: "1500",
      ORDER_RECOVERY_INTERVAL_MS: "100",
      ORDER_MAX_RETRY_DELAY_MS: String(MAX_RETRY_DELAY_MS),
      ORDER_WATCH_POLL_MS: "200",
    },
    { orderBreaker: false },
  );
  ({ mesh, orders, inventory, payments, notifications } = saga);
}, 120_000);

afterAll(async () => {
  mesh?.payment.signal("SIGCONT");
  mesh?.inventory.signal("SIGCONT");
  await saga?.close();
}, 60_000);

function connectOrders(): void {
  saga.reconnectOrders();
  orders = saga.orders;
}

/** A product no other test here touches, so stock arithmetic is exact. */
const productFor = (test: number) => saga.productFor(test);
const available = (sku: string) => saga.available(sku);
const order = orderRequest;

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface SagaRow {
  status: string;
  saga_step: string;
  attempts: number;
  next_attempt_at: Date;
  updated_at: Date;
}
const sagaRow = async (orderId: string) =>
  (
    await query<SagaRow>(
      mesh.databases.order,
      "SELECT status, saga_step, attempts, next_attempt_at, updated_at FROM orders WHERE order_id = $1",
      [orderId],
    )
  )[0];
const paymentStates = async (orderId: string) =>
  (await query<{ state: string }>(mesh.databases.payment, "SELECT state FROM payments WHERE order_id = $1", [orderId])).map((r) => r.state);
const reservationState = async (orderId: string) =>
  (await query<{ state: string }>(mesh.databases.inventory, "SELECT state FROM reservations WHERE reservation_id = $1", [orderId]))[0]
    ?.state;

/** Reads until `done` holds and returns that value; fails after `timeoutMs` with the last value read. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined as T);
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The order once its saga is done (nothing left to drive), as the order service answers it. */
async function finalOrder(orderId: string): Promise<Order | undefined> {
  await until(
    () => sagaRow(orderId),
    (row) => row?.saga_step === "DONE",
    `saga of ${orderId} done`,
    60_000,
  );
  return (await orders.getOrder({ orderId }, alice)).order;
}

/** Places an order while payment is frozen: the saga holds stock and waits on the authorization. */
async function placeWhilePaymentFrozen(sku: string, quantity: number): Promise<string> {
  mesh.payment.signal("SIGSTOP");
  const { order: placed } = await orders.createOrder(order(sku, quantity), alice);
  expect(placed?.status).toBe(OrderStatus.PENDING);
  return placed?.orderId ?? "";
}

/** The order service's saga gauges, read from its /metrics as Prometheus would. */
async function sagaBacklog(): Promise<{ unfinished: number; oldestAgeSeconds: number }> {
  const text = await (await fetch(`http://127.0.0.1:${mesh.order.adminPort}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return { unfinished: gauge("order_saga_unfinished"), oldestAgeSeconds: gauge("order_saga_oldest_unfinished_age_seconds") };
}

/** The notification templates the customer got for an order, once every owed notification is delivered. */
async function templatesFor(orderId: string): Promise<string[]> {
  await until(
    async () => (await query<{ n: string }>(mesh.databases.order, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"))[0]?.n,
    (n) => n === "0",
    "order outbox drained",
  );
  await mesh.rabbit.drained();
  const { notifications: sent } = await notifications.listNotifications({ orderId }, alice);
  return sent.map((n) => n.template).sort();
}

const rejected: string[] = [];
const cancelled: string[] = [];

describe("a refusal after stock is held compensates: COMPENSATING, then REJECTED", () => {
  it("refused at commit (the reservation was released meanwhile): the authorization is voided, the stock stays free", async () => {
    const sku = productFor(0);
    const before = await available(sku);
    let orderId = "";
    try {
      orderId = await placeWhilePaymentFrozen(sku, 2);
      expect(await available(sku)).toBe(before - 2);
      await inventory.releaseReservation({ reservationId: orderId }); // behind the saga's back
      expect(await available(sku)).toBe(before);
    } finally {
      mesh.payment.signal("SIGCONT");
    }

    const done = await finalOrder(orderId);

    expect(done?.status).toBe(OrderStatus.REJECTED);
    expect(await paymentStates(orderId)).toEqual(["VOIDED"]); // authorized by the retry, then voided
    expect(await reservationState(orderId)).toBe("RELEASED");
    expect(await available(sku)).toBe(before);
    rejected.push(orderId);
  });

  it("refused at capture (the payment was voided meanwhile): the sold stock is restocked, nothing is captured", async () => {
    const sku = productFor(1);
    const before = await available(sku);
    let orderId = "";
    try {
      orderId = await placeWhilePaymentFrozen(sku, 1);
      mesh.inventory.signal("SIGSTOP"); // the commit will hang, after the authorization
      mesh.payment.signal("SIGCONT");
      const authorized = await until(
        async () =>
          (
            await query<{ payment_id: string; state: string }>(
              mesh.databases.payment,
              "SELECT payment_id, state FROM payments WHERE order_id = $1",
              [orderId],
            )
          )[0],
        (row) => row?.state === "AUTHORIZED",
        "payment authorized",
      );
      await until(
        () => sagaRow(orderId),
        (row) => row?.saga_step === "COMMITTING",
        "saga at COMMITTING",
      );
      await payments.voidPayment({ paymentId: authorized?.payment_id ?? "" }); // behind the saga's back
    } finally {
      mesh.payment.signal("SIGCONT");
      mesh.inventory.signal("SIGCONT");
    }

    const done = await finalOrder(orderId);

    expect(done?.status).toBe(OrderStatus.REJECTED);
    expect(await paymentStates(orderId)).toEqual(["VOIDED"]);
    // Committed (sold) by the saga, then given back by the compensation.
    expect(await reservationState(orderId)).toBe("RELEASED");
    expect(await available(sku)).toBe(before);
    rejected.push(orderId);
  });
});

describe("CancelOrder while payment is down", () => {
  it("answers CANCELLATION_PENDING, retries with growing back-off counting each attempt, and CANCELS through recovery", async () => {
    const sku = productFor(2);
    const before = await available(sku);
    const { order: placed } = await orders.createOrder(order(sku, 3), alice);
    expect(placed?.status).toBe(OrderStatus.CONFIRMED);
    const orderId = placed?.orderId ?? "";

    const seen = new Map<number, number>(); // attempts -> the retry delay the saga chose after that failure
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const row = await sagaRow(orderId);
        if (row && row.saga_step === "CANCELLING" && row.attempts > 0)
          seen.set(row.attempts, row.next_attempt_at.getTime() - row.updated_at.getTime());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    // One call, no client retries: each retry would be another attempt.
    const once = createClient(OrderService, mesh.order.target, { ...callingAs("gateway", "order"), breaker: false, retry: false });
    mesh.payment.signal("SIGSTOP");
    try {
      const error = (await once.cancelOrder({ orderId, reason: "changed my mind" }, alice).catch((e: unknown) => e)) as ConnectError;
      expect(errorInfo(error)?.reason).toBe("CANCELLATION_PENDING");
      // Waits on what the sampler saw, not on the row alone: stopping the sampler the moment the row
      // says 3 could end it before it recorded attempt 3's delay.
      await until(
        async () => [...seen.keys()],
        (attempts) => attempts.some((attempt) => attempt >= 3),
        "three failed attempts, each sampled",
      );
      expect((await orders.getOrder({ orderId }, alice)).order?.status).toBe(OrderStatus.CONFIRMED); // not cancelled yet
    } finally {
      mesh.payment.signal("SIGCONT");
      sampling = false;
      await sampler;
      once.close();
    }

    // One attempt at a time, each counted, each waiting min(max, 0.5 s x 2^(n-1)) with up to half of it as jitter.
    expect([...seen.keys()].sort((a, b) => a - b).slice(0, 3)).toEqual([1, 2, 3]);
    for (const [attempt, delayMs] of seen) {
      const ceiling = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** (attempt - 1));
      expect(delayMs).toBeGreaterThanOrEqual(ceiling / 2 - 50); // the row's clock is the database's, a few ms behind
      expect(delayMs).toBeLessThanOrEqual(ceiling);
    }

    const done = await finalOrder(orderId);
    expect(done?.status).toBe(OrderStatus.CANCELLED);
    expect(await paymentStates(orderId)).toEqual(["REFUNDED"]);
    expect(await reservationState(orderId)).toBe("RELEASED");
    expect(await available(sku)).toBe(before);
    cancelled.push(orderId);
  }, 60_000);
});

describe("an order pending past ORDER_PENDING_TIMEOUT_MS", () => {
  it("is compensated while its dependency is still down: stock released, authorization voided, REJECTED", async () => {
    await mesh.restartOrder({ ORDER_PENDING_TIMEOUT_MS: "3000" });
    connectOrders();
    const sku = productFor(3);
    const before = await available(sku);
    let orderId = "";
    try {
      orderId = await placeWhilePaymentFrozen(sku, 1);
      // What an operator sees meanwhile: an unfinished saga, and how long it has been waiting.
      const stuck = await until(
        sagaBacklog,
        (backlog) => backlog.unfinished >= 1 && backlog.oldestAgeSeconds > 0,
        "the stuck order counted on /metrics",
      );
      expect(stuck.oldestAgeSeconds).toBeLessThan(60);
      // The timeout, not a refusal: payment never answered, yet the saga turns to compensation.
      await until(
        () => sagaRow(orderId),
        (row) => row?.saga_step === "COMPENSATING",
        "saga compensating after the timeout",
      );
    } finally {
      mesh.payment.signal("SIGCONT");
    }

    const done = await finalOrder(orderId);

    expect(done?.status).toBe(OrderStatus.REJECTED);
    // Nothing left unfinished: the gauges go back to zero by themselves.
    await until(sagaBacklog, (backlog) => backlog.unfinished === 0 && backlog.oldestAgeSeconds === 0, "no unfinished saga on /metrics");
    // The frozen authorization went through once payment thawed, and the compensation voided it by key.
    expect((await paymentStates(orderId)).every((state) => state === "VOIDED")).toBe(true);
    expect(await reservationState(orderId)).toBe("RELEASED");
    expect(await available(sku)).toBe(before);
    rejected.push(orderId);
  }, 60_000);
});

describe("the customer is told, once per final status", () => {
  it("sends exactly one order_rejected for each rejected order and order_confirmed + order_cancelled for a cancelled one", async () => {
    expect(rejected).toHaveLength(3);
    expect(cancelled).toHaveLength(1);
    for (const orderId of rejected) expect(await templatesFor(orderId)).toEqual(["order_rejected"]);
    for (const orderId of cancelled) expect(await templatesFor(orderId)).toEqual(["order_cancelled", "order_confirmed"]);
  });
});
