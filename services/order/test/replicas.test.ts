// Scale-out on one machine: two order and two inventory replicas (real processes sharing each
// service's PostgreSQL database) behind grpc-js round_robin over a static address list, as
// `dns:///` gives it on Kubernetes. The load spreads over both replicas of each; one order replica
// is killed with SIGKILL mid-load while orders are in its saga. No order is lost or left PENDING,
// the survivor's recovery finishes the dead replica's orders, and each outbox row reaches the broker
// once, counted on a real RabbitMQ queue.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderConfirmedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { type Order, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { declareExchange } from "@shop/platform/messaging";
import { callingAs } from "@shop/platform/testing/certificates";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { type RabbitTestScope, rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { ServiceProcess } from "@shop/platform/testing/service-process";
import { type ChannelModel, connect } from "amqplib";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const SKU = "SKU-NBK-005";
const CONFIRMED_TYPE = OrderConfirmedSchema.typeName;
const SENTINEL_KEY = "test.sentinel";

function serviceProcess(label: string, name: string, env: Record<string, string>): ServiceProcess {
  return new ServiceProcess(label, { envPrefix: name.toUpperCase(), main: `${repoRoot}services/${name}/dist/main.js`, cwd: repoRoot, env });
}

/** A grpc-js target listing every replica: the static form of what `dns:///` resolves to. */
function roundRobin(replicas: ServiceProcess[]): string {
  return `ipv4:${replicas.map((replica) => replica.target).join(",")}`;
}

let databases: TestDatabase[] = [];
let rabbit: RabbitTestScope;
let amqp: ChannelModel | undefined;
const processes: ServiceProcess[] = [];
let inventoryA: ServiceProcess;
let inventoryB: ServiceProcess;
let payment: ServiceProcess;
let orderA: ServiceProcess;
let orderB: ServiceProcess;
let orderDb: string;
let paymentDb: string;
let orders: GrpcClient<typeof OrderService>;
let inventory: GrpcClient<typeof InventoryService>;
/** Deliveries of each OrderConfirmed event on the test's own queue, by message id. */
const deliveries = new Map<string, number>();
let sentinelDelivered: () => Promise<void>;

beforeAll(async () => {
  const [inventoryDb, paymentDatabase, orderDatabase] = await Promise.all([
    createTestDatabase("replicas"),
    createTestDatabase("replicas"),
    createTestDatabase("replicas"),
  ]);
  databases = [inventoryDb!, paymentDatabase!, orderDatabase!];
  paymentDb = paymentDatabase!.url;
  orderDb = orderDatabase!.url;
  rabbit = rabbitTestScope("test-replicas");

  // The broker side: the events exchange order publishes to, and a queue of the test's own bound
  // to it, where every published OrderConfirmed is counted (no consumer service competes for them).
  amqp = await connect(rabbit.url);
  const channel = await amqp.createChannel();
  const exchange = `${rabbit.prefix}shop.events`;
  await declareExchange(channel, exchange, "topic");
  const { queue } = await channel.assertQueue(`${rabbit.prefix}count`, { durable: false });
  await channel.bindQueue(queue, exchange, CONFIRMED_TYPE);
  await channel.bindQueue(queue, exchange, SENTINEL_KEY); // a key no order replica binds
  const sentinel = `sentinel-${randomUUID()}`;
  let onSentinel: () => void = () => undefined;
  await channel.consume(
    queue,
    (message) => {
      const id = message?.properties.messageId as string | undefined;
      if (id === sentinel) onSentinel();
      else if (id) deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    },
    { noAck: true },
  );
  sentinelDelivered = async () => {
    const delivered = new Promise<void>((resolve) => (onSentinel = resolve));
    const confirms = await amqp!.createConfirmChannel();
    confirms.publish(exchange, SENTINEL_KEY, Buffer.from("end"), { messageId: sentinel });
    await confirms.waitForConfirms();
    await confirms.close();
    await delivered;
  };

  inventoryA = serviceProcess("inventory-a", "inventory", { INVENTORY_DATABASE_URL: inventoryDb!.url });
  inventoryB = serviceProcess("inventory-b", "inventory", { INVENTORY_DATABASE_URL: inventoryDb!.url });
  payment = serviceProcess("payment", "payment", { PAYMENT_DATABASE_URL: paymentDb });
  processes.push(inventoryA, inventoryB, payment);
  await Promise.all([inventoryA.start(), payment.start()]);
  await inventoryB.start(); // after A: the same database, migrated once
  const orderEnv = {
    ORDER_DATABASE_URL: orderDb,
    INVENTORY_URL: roundRobin([inventoryA, inventoryB]),
    PAYMENT_URL: payment.target,
    AMQP_PREFIX: rabbit.prefix,
    ORDER_STEP_TIMEOUT_MS: "4000",
    ORDER_PENDING_TIMEOUT_MS: "120000",
    ORDER_SAGA_LEASE_MS: "1500",
    ORDER_RECOVERY_INTERVAL_MS: "300",
    ORDER_MAX_RETRY_DELAY_MS: "500",
  };
  orderA = serviceProcess("order-a", "order", orderEnv);
  orderB = serviceProcess("order-b", "order", orderEnv);
  processes.push(orderA, orderB);
  await orderA.start();
  await orderB.start();

  orders = createClient(OrderService, roundRobin([orderA, orderB]), { ...callingAs("gateway", "order"), breaker: false });
  inventory = createClient(InventoryService, roundRobin([inventoryA, inventoryB]), callingAs("operator", "inventory"));
  await inventory.restockProduct({ sku: SKU, quantity: 10_000 });
}, 120_000);

afterAll(async () => {
  orders?.close();
  inventory?.close();
  await Promise.all(processes.map((process) => process.stop()));
  await amqp?.close().catch(() => undefined);
  await rabbit?.cleanup();
  await Promise.all(databases.map((database) => database.drop()));
});

/** CreateOrder as a client that keeps its request id until it gets an answer (a replica may die under it). */
async function placeOrder(user: string, requestId = randomUUID()): Promise<Order> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { order } = await orders.createOrder(
        { requestId, items: [{ sku: SKU, quantity: 1 }], cardToken: "tok_visa", email: `${user}@example.com` },
        { headers: { "x-user-id": user }, timeoutMs: 15_000 },
      );
      if (!order) throw new Error("CreateOrder answered without an order");
      return order;
    } catch (error) {
      if (attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/** Runs `count` calls of `call`, `concurrency` at a time. */
async function load<T>(count: number, concurrency: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await call(i);
      }
    }),
  );
  return results;
}

/** The OK calls of one method a process served, from its own /metrics. */
async function servedCalls(process: ServiceProcess, service: string, method: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${process.adminPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("grpc_server_handled_total{")) continue;
    if (line.includes(`grpc_service="${service}"`) && line.includes(`grpc_method="${method}"`) && line.includes('grpc_code="OK"')) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("two order and two inventory replicas behind grpc-js round_robin", () => {
  it("spread the load over both replicas of each service, as their /metrics show", async () => {
    const placed = await load(24, 4, () => placeOrder("spread"));
    expect(placed.map((order) => order.orderId)).toHaveLength(new Set(placed.map((order) => order.orderId)).size);

    const createOrders = await Promise.all([orderA, orderB].map((replica) => servedCalls(replica, OrderService.typeName, "CreateOrder")));
    const reservations = await Promise.all(
      [inventoryA, inventoryB].map((replica) => servedCalls(replica, InventoryService.typeName, "ReserveStock")),
    );
    expect(createOrders.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(24);
    for (const served of [...createOrders, ...reservations]) expect(served).toBeGreaterThan(0);
  });

  it("lose no order when one order replica is killed -9 mid-load; the survivor finishes the dead one's orders", async () => {
    // A relay marks the rows the broker acked with its next round (≤ one poll later), so a replica
    // killed within that moment leaves rows it published still claimed, and they are published again
    // when the claim runs out — a duplicate consumers drop, by design. The last test counts publishes
    // exactly, so the previous test's events are all marked before anyone is killed (no order can
    // be confirmed between here and the kill: payment is stopped).
    await until(
      "every outbox row of the previous test marked published",
      () => query<{ n: string }>(orderDb, "select count(*) as n from outbox where published_at is null"),
      (rows) => Number(rows[0]?.n) === 0,
    );
    // Orders in the dead replica's saga at the moment it dies: sent to it alone, held at payment.
    const toA = createClient(OrderService, orderA.target, { ...callingAs("gateway", "order"), breaker: false });
    payment.signal("SIGSTOP");
    let background: Promise<Order[]> | undefined;
    try {
      background = load(40, 4, () => placeOrder("load"));
      const victims = Array.from({ length: 3 }, () =>
        toA
          .createOrder(
            { requestId: randomUUID(), items: [{ sku: SKU, quantity: 1 }], cardToken: "tok_visa", email: "victim@example.com" },
            { headers: { "x-user-id": "victim" }, timeoutMs: 30_000 },
          )
          .catch((error: unknown) => error),
      );
      await until(
        "the victims' orders to be written by replica A",
        () => query<{ n: string }>(orderDb, "select count(*) as n from orders where user_id = 'victim'"),
        (rows) => Number(rows[0]?.n) === 3,
      );
      await orderA.kill9();
      for (const outcome of await Promise.all(victims)) expect(outcome).toBeInstanceOf(Error); // their replica died under them
    } finally {
      payment.signal("SIGCONT");
      toA.close();
    }

    const placed = await background;
    expect(placed).toHaveLength(40); // every request answered, by the survivor when its replica died

    // Nothing stays PENDING: every order of the run ends CONFIRMED.
    const final = await until(
      "every order to leave PENDING",
      () => query<{ order_id: string; user_id: string; status: string }>(orderDb, "select order_id, user_id, status from orders"),
      (rows) => rows.every((row) => row.status !== OrderStatus[OrderStatus.PENDING]),
      90_000,
    );
    expect(final).toHaveLength(24 + 40 + 3);
    expect(final.filter((row) => row.status !== OrderStatus[OrderStatus.CONFIRMED])).toEqual([]);
    for (const order of placed) expect(final.some((row) => row.order_id === order.orderId)).toBe(true);

    // The dead replica's orders were finished by the survivor's recovery loop: no one else was alive.
    const victims = final.filter((row) => row.user_id === "victim").map((row) => row.order_id);
    expect(victims).toHaveLength(3);
    // Its log lines leave in batches (every 250 ms), so they are awaited, not read at once.
    const recoveryLines = async () =>
      orderB.output
        .join("")
        .split("\n")
        .filter((line) => line.includes('"recovery drove order"'));
    const recovered = await until("the survivor to log recovering each of the dead replica's orders", recoveryLines, (lines) =>
      victims.every((orderId) => lines.some((line) => line.includes(orderId))),
    );
    for (const orderId of victims) expect(recovered.some((line) => line.includes(orderId))).toBe(true);

    // Charged once each.
    const charges = await query<{ order_id: string; n: string }>(
      paymentDb,
      "select order_id, count(*) as n from payments group by order_id having count(*) > 1",
    );
    expect(charges).toEqual([]);
  });

  it("publish each outbox row to the broker once, with every row delivered", async () => {
    const rows = await until(
      "every OrderConfirmed in the outbox published and delivered",
      () =>
        query<{ message_id: string; published: boolean }>(
          orderDb,
          "select message_id, published_at is not null as published from outbox where routing_key = $1",
          [CONFIRMED_TYPE],
        ),
      (current) => current.length > 0 && current.every((row) => row.published && deliveries.has(row.message_id)),
    );
    // Every row is marked published only after the broker confirmed it, so every publish of a row,
    // a duplicate included, is in the queue by now; a sentinel published after them marks the end of it.
    await sentinelDelivered();
    const confirmed = await query<{ n: string }>(orderDb, "select count(*) as n from orders where status = $1", [
      OrderStatus[OrderStatus.CONFIRMED],
    ]);
    expect(rows).toHaveLength(Number(confirmed[0]?.n)); // one OrderConfirmed per confirmed order
    const duplicated = [...deliveries].filter(([, count]) => count > 1);
    expect(duplicated).toEqual([]);
    expect([...deliveries.keys()].sort()).toEqual(rows.map((row) => row.message_id).sort());
  });
});
