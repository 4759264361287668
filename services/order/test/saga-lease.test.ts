import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, type GrpcClient, loadServiceConfig, type RunningServer, serve, service } from "@shop/platform";
import { type Database, openDatabase } from "@shop/platform/database";
import { callingAs, testCertificatesDir } from "@shop/platform/testing/certificates";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inventoryAccess } from "../../inventory/src/access.js";
import { createInventoryService } from "../../inventory/src/inventory-service.js";
import { InventoryStore } from "../../inventory/src/store.js";
import { paymentAccess } from "../../payment/src/access.js";
import { createPaymentService } from "../../payment/src/payment-service.js";
import { SimulatedCardProcessor } from "../../payment/src/processor.js";
import { PaymentStore } from "../../payment/src/store.js";
import { OrderEvents } from "../src/order-events.js";
import { OrderSaga } from "../src/saga.js";
import { OrderStore } from "../src/store.js";

/**
 * Two drivers of one order — two order "replicas", each with its own database connection and its
 * own mTLS clients — against the real inventory and payment handlers on real grpc-js servers over
 * real mTLS, each on its own PostgreSQL database. The payment server can hold an authorization
 * for longer than the saga's lease (a dependency slower than the lease), and counts the calls
 * that reach it.
 */
const migrations = (name: string) => fileURLToPath(new URL(`../../${name}/migrations`, import.meta.url));
const LEASE_MS = 1_500;

/** The payment service, able to hold the next authorization until released, counting calls. */
class SlowPayment {
  authorizations = 0;
  captures = 0;
  private held: { reached: () => void; released: Promise<void> } | undefined;

  readonly impl: ServiceImpl<typeof PaymentService>;

  constructor(real: ServiceImpl<typeof PaymentService>) {
    this.impl = {
      ...real,
      authorizePayment: async (request, ctx) => {
        this.authorizations += 1;
        const held = this.held;
        this.held = undefined;
        if (held) {
          held.reached();
          await held.released;
        }
        return real.authorizePayment(request, ctx);
      },
      capturePayment: async (request, ctx) => {
        this.captures += 1;
        return real.capturePayment(request, ctx);
      },
    };
  }

  /** Holds the next AuthorizePayment; `reached` resolves once it is in the server. */
  holdNextAuthorization(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const isReached = new Promise<void>((resolve) => (reached = resolve));
    this.held = { reached, released: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: isReached, release };
  }
}

/** One order replica: its own connection to the order database, its own clients, its own log. */
interface Replica {
  saga: OrderSaga;
  db: Database;
  /** Cuts the replica off from its database (a partition, a long pause) until the returned function is called. */
  cutOff(): () => void;
  lines: Array<{ level: number; msg: string; orderId?: string }>;
  close(): Promise<void>;
}

/** `db`, with a switch that holds every statement sent through it while the link is cut. */
function cuttable(db: Database): { link: Database; cutOff(): () => void } {
  let restored: Promise<void> | undefined;
  const link: Database = {
    kind: db.kind,
    query: async (sql, params) => {
      await restored;
      return db.query(sql, params);
    },
    transaction: async (work) => {
      await restored;
      return db.transaction(work);
    },
    afterCommit: (fn) => db.afterCommit(fn),
    ping: () => db.ping(),
    close: () => db.close(),
  };
  return {
    link,
    cutOff() {
      let restore!: () => void;
      restored = new Promise<void>((resolve) => (restore = resolve));
      return () => {
        restored = undefined;
        restore();
      };
    },
  };
}

let databases: TestDatabase[];
let orderUrl: string;
let servers: RunningServer[];
let paymentDb: Database;
let inventoryDb: Database;
let slow: SlowPayment;
let payments: GrpcClient<typeof PaymentService>;
let replicas: [Replica, Replica];

function serverConfig(name: string) {
  return loadServiceConfig(
    name,
    { port: 0, adminPort: 0, certRoot: testCertificatesDir() },
    { HOST: "127.0.0.1", LOG_LEVEL: "silent", HANDLE_SIGNALS: "false" },
  );
}

async function startReplica(inventoryAt: string, paymentAt: string): Promise<Replica> {
  const db = await openDatabase({ url: orderUrl, migrationsDir: migrations("order") });
  const { link, cutOff } = cuttable(db);
  const lines: Replica["lines"] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const inventory = createClient(InventoryService, inventoryAt, { ...callingAs("order", "inventory"), retry: false, breaker: false });
  const payment = createClient(PaymentService, paymentAt, { ...callingAs("order", "payment"), retry: false, breaker: false });
  const saga = new OrderSaga({
    store: new OrderStore(link),
    inventory,
    payment,
    events: new OrderEvents(),
    logger,
    options: { stepTimeoutMs: 30_000, pendingTimeoutMs: 120_000, leaseMs: LEASE_MS, recoveryIntervalMs: 60_000, maxRetryDelayMs: 200 },
  });
  return {
    saga,
    db,
    cutOff,
    lines,
    async close() {
      inventory.close();
      payment.close();
      await db.close();
    },
  };
}

beforeAll(async () => {
  databases = await Promise.all([createTestDatabase("saga_lease"), createTestDatabase("saga_lease"), createTestDatabase("saga_lease")]);
  const [orderDb, invDb, payDb] = databases as [TestDatabase, TestDatabase, TestDatabase];
  orderUrl = orderDb.url;
  inventoryDb = await openDatabase({ url: invDb.url, migrationsDir: migrations("inventory") });
  paymentDb = await openDatabase({ url: payDb.url, migrationsDir: migrations("payment") });
  slow = new SlowPayment(createPaymentService({ store: new PaymentStore(paymentDb), processor: new SimulatedCardProcessor() }));
  const inventoryImpl = createInventoryService({ store: new InventoryStore(inventoryDb), defaultTtlMs: 600_000 });
  servers = [
    await serve(serverConfig("inventory"), [service(InventoryService, inventoryImpl, inventoryAccess)]),
    await serve(serverConfig("payment"), [service(PaymentService, slow.impl, paymentAccess)]),
  ];
  const [inventoryServer, paymentServer] = servers as [RunningServer, RunningServer];
  replicas = [
    await startReplica(inventoryServer.address, paymentServer.address),
    await startReplica(inventoryServer.address, paymentServer.address),
  ];
  payments = createClient(PaymentService, paymentServer.address, callingAs("order", "payment"));
});

afterAll(async () => {
  payments?.close();
  await Promise.all((replicas ?? []).map((replica) => replica.close()));
  await Promise.all((servers ?? []).map((server) => server.shutdown()));
  await Promise.all([inventoryDb?.close(), paymentDb?.close()]);
  await Promise.all((databases ?? []).map((db) => db.drop()));
});

/** A new PENDING order for one unit of a product of its own, inserted as CreateOrder does. */
async function newOrder(): Promise<string> {
  const sku = `SKU-LEASE-${randomUUID().slice(0, 8)}`;
  await inventoryDb.query(
    "INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand) VALUES ($1, 'Lease test', 'test', 'EUR', 500, 3)",
    [sku],
  );
  const orderId = `ord_${randomUUID()}`;
  await new OrderStore(replicas[0].db).insertPending({
    orderId,
    userId: "lease-test",
    requestId: randomUUID(),
    requestHash: "h",
    email: "lease@example.com",
    cardToken: "tok_visa",
    items: [{ sku, quantity: 1 }],
    recoveryGraceMs: 0,
  });
  return orderId;
}

/** Polls the order database until its clock is past `instant`: waits on the lease's own clock, not the test's. */
async function untilDatabasePast(db: Database, instant: Date): Promise<void> {
  for (;;) {
    const { rows } = await db.query<{ past: boolean }>("SELECT now() > $1::timestamptz AS past", [instant.toISOString()]);
    if (rows[0]?.past) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function leaseOf(orderId: string): Promise<{ lockedUntil: Date; token: bigint }> {
  const { rows } = await replicas[0].db.query<{ locked_until: Date; lease_token: bigint }>(
    "SELECT locked_until, lease_token FROM orders WHERE order_id = $1",
    [orderId],
  );
  return { lockedUntil: rows[0]!.locked_until, token: rows[0]!.lease_token };
}

async function outboxRows(orderId: string): Promise<number> {
  const { rows } = await replicas[0].db.query<{ n: bigint }>("SELECT count(*) AS n FROM outbox WHERE message_id LIKE $1", [`${orderId}.%`]);
  return Number(rows[0]?.n);
}

describe("two drivers of one order, with a payment slower than the saga's lease", () => {
  it("keeps the order with the driver still working: its lease is renewed, the second driver gets nothing to do", async () => {
    const [a, b] = replicas;
    const orderId = await newOrder();
    const [authorizationsBefore, capturesBefore] = [slow.authorizations, slow.captures];
    const hold = slow.holdNextAuthorization();

    const first = a.saga.drive(orderId);
    try {
      await hold.reached;
      const claimed = await leaseOf(orderId);
      await untilDatabasePast(a.db, new Date(claimed.lockedUntil.getTime() + LEASE_MS)); // two leases, had it not been renewed
      expect((await leaseOf(orderId)).lockedUntil.getTime()).toBeGreaterThan(claimed.lockedUntil.getTime());

      const second = await b.saga.drive(orderId);
      expect(second?.sagaStep).toBe("AUTHORIZING");
      expect(await new OrderStore(b.db).dueForRecovery(1000)).not.toContain(orderId);
    } finally {
      hold.release();
    }
    const done = await first;

    expect(done?.order.status).toBe(OrderStatus.CONFIRMED);
    expect(slow.authorizations - authorizationsBefore).toBe(1);
    expect(slow.captures - capturesBefore).toBe(1);
    expect((await payments.getPayment({ paymentId: done?.order.paymentId ?? "" })).payment?.state).toBe(PaymentState.CAPTURED);
    expect(await outboxRows(orderId)).toBe(1);
  });

  it("fences off a driver whose lease was taken over: it stops with a log line, and only the new driver's writes land", async () => {
    const [a, b] = replicas;
    const orderId = await newOrder();
    const capturesBefore = slow.captures;
    const hold = slow.holdNextAuthorization();

    const first = a.saga.drive(orderId);
    let reconnect = () => {};
    let takenOver = false;
    try {
      await hold.reached;
      // Driver A is cut off from its database (a partition, a long pause): its renewals do not get through.
      reconnect = a.cutOff();
      // A renewal already sent when the link was cut may still land (seen under a loaded CI run: B then
      // found the lease held): wait until the lease, read again, has run out unchanged.
      let stalled = await leaseOf(orderId);
      for (;;) {
        await untilDatabasePast(b.db, stalled.lockedUntil);
        const again = await leaseOf(orderId);
        if (again.lockedUntil.getTime() === stalled.lockedUntil.getTime()) break;
        stalled = again;
      }
      const second = await b.saga.drive(orderId);
      expect(second?.order.status).toBe(OrderStatus.CONFIRMED);
      takenOver = (await leaseOf(orderId)).token === stalled.token + 1n;
    } finally {
      hold.release(); // A's authorization now answers, far too late
      reconnect();
    }
    const late = await first;

    expect(late?.order.status).toBe(OrderStatus.CONFIRMED);
    expect(late?.sagaStep).toBe("DONE");
    expect(slow.captures - capturesBefore).toBe(1);
    expect(await outboxRows(orderId)).toBe(1);
    expect(takenOver).toBe(true);
    const fenced = a.lines.filter((line) => line.orderId === orderId && line.msg.includes("lease taken over"));
    expect(fenced).toHaveLength(1);
    expect(fenced[0]?.level).toBe(40); // warn
    const { rows } = await b.db.query<{ saga_step: string; attempts: number; last_error: string; status_reason: string }>(
      "SELECT saga_step, attempts, last_error, status_reason FROM orders WHERE order_id = $1",
      [orderId],
    );
    expect(rows[0]).toEqual({ saga_step: "DONE", attempts: 0, last_error: "", status_reason: "" });
  });
});
