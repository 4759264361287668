import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { equals, fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderPlacedSchema,
  OrderRejectedSchema,
} from "@shop/contracts/shop/order/v1/order_events_pb";
import { type Order, OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { type CreateOrderRequest, OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { badRequest, createLogger, errorInfo, retryInfo } from "@shop/platform";
import { type Database, openDatabase } from "@shop/platform/database";
import { refusal } from "@shop/platform/testing/errors";
import { validateRequests } from "@shop/platform/validation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInventoryService } from "../../inventory/src/inventory-service.js";
import { InventoryStore } from "../../inventory/src/store.js";
import { notificationFor } from "../../notification/src/order-event-handler.js";
import { CUSTOMER_REASONS, renderTemplate } from "../../notification/src/templates.js";
import { createPaymentService } from "../../payment/src/payment-service.js";
import { SimulatedCardProcessor } from "../../payment/src/processor.js";
import { PaymentStore } from "../../payment/src/store.js";
import type { SagaSettings } from "../src/order-config.js";
import { ORDER_EVENT_SCHEMAS, OrderEvents } from "../src/order-events.js";
import { feedHandler } from "../src/order-feed.js";
import { OrderReason } from "../src/order-reasons.js";
import { createOrderService } from "../src/order-service.js";
import { OrderSaga } from "../src/saga.js";
import { OrderStore } from "../src/store.js";

/**
 * The order handlers over their real store on an in-memory PGlite database, called through a
 * Connect client over an in-memory router transport. The saga calls the REAL inventory and
 * payment handlers, each on its own in-memory database, through Connect clients over router
 * transports of their own; an interceptor on those lets a test hold a step in flight or make a
 * dependency fail.
 */
const migrations = (service: string) => fileURLToPath(new URL(`../../${service}/migrations`, import.meta.url));

const SAGA: SagaSettings = {
  stepTimeoutMs: 2_000,
  pendingTimeoutMs: 30_000,
  leaseMs: 2_000,
  recoveryIntervalMs: 60_000,
  maxRetryDelayMs: 200,
};

/** Holds or fails the saga's calls of one method (by its proto name), to act while a step is in flight. */
class Interruptions {
  private readonly holds = new Map<string, { reached: () => void; released: Promise<void> }>();
  private readonly failures = new Map<string, () => ConnectError>();

  /** Holds the next call of `method` until `release()`; `reached` resolves once it is held. */
  hold(method: string): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const isReached = new Promise<void>((resolve) => (reached = resolve));
    this.holds.set(method, { reached, released: new Promise<void>((resolve) => (release = resolve)) });
    return { reached: isReached, release };
  }

  /** Fails every call of `method` with UNAVAILABLE until `heal(method)`. */
  fail(method: string): void {
    this.failures.set(method, () => new ConnectError(`${method}: connection refused (test)`, Code.Unavailable));
  }

  heal(method: string): void {
    this.failures.delete(method);
  }

  /** Refuses the next call of `method` with `error` (a business refusal, say). */
  refuseNext(method: string, error: ConnectError): void {
    this.failures.set(method, () => {
      this.failures.delete(method);
      return error;
    });
  }

  readonly interceptor: Interceptor = (next) => async (request) => {
    const failure = this.failures.get(request.method.name);
    if (failure) throw failure();
    const hold = this.holds.get(request.method.name);
    if (hold) {
      this.holds.delete(request.method.name);
      hold.reached();
      await hold.released;
    }
    return next(request);
  };
}

/**
 * OrderEvents that counts live subscriptions (each WatchOrder stream holds one until it ends) and can
 * go deaf: while `deaf`, changes are not passed on, as when this replica's feed had lost its queue.
 */
class CountedEvents extends OrderEvents {
  watchers = 0;
  deaf = false;

  override publish(order: Order): void {
    if (!this.deaf) super.publish(order);
  }

  override subscribe(orderId: string, listener: (order: Order) => void, resync?: () => void): () => void {
    this.watchers += 1;
    const unsubscribe = super.subscribe(orderId, listener, resync);
    return () => {
      this.watchers -= 1;
      unsubscribe();
    };
  }
}

let orderDb: Database;
let inventoryDb: Database;
let paymentDb: Database;
let store: OrderStore;
let saga: OrderSaga;
let events: CountedEvents;
const interruptions = new Interruptions();
let orders: Client<typeof OrderService>;
/** The test's own view of the two dependencies (not interrupted). */
let inventory: Client<typeof InventoryService>;
let payments: Client<typeof PaymentService>;

beforeAll(async () => {
  [orderDb, inventoryDb, paymentDb] = await Promise.all([
    openDatabase({ migrationsDir: migrations("order") }),
    openDatabase({ migrationsDir: migrations("inventory") }),
    openDatabase({ migrationsDir: migrations("payment") }),
  ]);
  const inventoryImpl = createInventoryService({ store: new InventoryStore(inventoryDb), defaultTtlMs: 60_000 });
  const paymentImpl = createPaymentService({ store: new PaymentStore(paymentDb), processor: new SimulatedCardProcessor() });
  const serveInventory = (interceptors: Interceptor[]) =>
    createRouterTransport(({ service }) => service(InventoryService, inventoryImpl), {
      transport: { interceptors },
      router: { interceptors: [validateRequests] },
    });
  const servePayment = (interceptors: Interceptor[]) =>
    createRouterTransport(({ service }) => service(PaymentService, paymentImpl), {
      transport: { interceptors },
      router: { interceptors: [validateRequests] },
    });
  inventory = createClient(InventoryService, serveInventory([]));
  payments = createClient(PaymentService, servePayment([]));

  store = new OrderStore(orderDb);
  events = new CountedEvents();
  saga = new OrderSaga({
    store,
    inventory: createClient(InventoryService, serveInventory([interruptions.interceptor])),
    payment: createClient(PaymentService, servePayment([interruptions.interceptor])),
    events,
    logger: createLogger("order-test", "silent"),
    options: SAGA,
  });
  const impl = createOrderService({ store, saga, events, watchStreamsPerUser: 3, recoveryGraceMs: SAGA.leaseMs });
  orders = createClient(
    OrderService,
    createRouterTransport(({ service }) => service(OrderService, impl), { router: { interceptors: [validateRequests] } }),
  );
});

afterAll(async () => {
  await Promise.all([orderDb?.close(), inventoryDb?.close(), paymentDb?.close()]);
});

let counter = 0;

/** A caller of the test's own, so its orders and pages are exact. */
function newCaller(): { userId: string; options: { headers: Record<string, string> } } {
  const userId = `user-${++counter}`;
  return { userId, options: { headers: { "x-user-id": userId } } };
}

/** A product of the test's own, so its stock arithmetic is exact. */
async function addProduct(onHand: number, priceMinor = 1000n): Promise<string> {
  const sku = `SKU-OT-${++counter}`;
  await inventoryDb.query(
    "INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand) VALUES ($1, $2, 'test', 'EUR', $3, $4)",
    [sku, `Order test product ${counter}`, priceMinor.toString(), onHand],
  );
  return sku;
}

type OrderInit = Pick<CreateOrderRequest, "requestId" | "cardToken" | "email"> & { items: Array<{ sku: string; quantity: number }> };

function orderOf(items: Array<{ sku: string; quantity: number }>, cardToken = "tok_visa"): OrderInit {
  return { requestId: randomUUID(), items, cardToken, email: "ada@example.com" };
}

async function place(request: OrderInit, options: { headers: Record<string, string> }): Promise<Order> {
  const { order } = await orders.createOrder(request, options);
  expect(order).toBeDefined();
  return order!;
}

async function available(sku: string): Promise<number | undefined> {
  return (await inventory.getProduct({ sku })).product?.availableQuantity;
}

async function reservationState(orderId: string): Promise<string | undefined> {
  const { rows } = await inventoryDb.query<{ state: string }>("SELECT state FROM reservations WHERE reservation_id = $1", [orderId]);
  return rows[0]?.state;
}

/** The payment row held under the order's idempotency key (the saga keys authorizations by order id). */
async function paymentsOf(orderId: string): Promise<Array<{ state: string; payment_id: string }>> {
  const { rows } = await paymentDb.query<{ state: string; payment_id: string }>(
    "SELECT state, payment_id FROM payments WHERE idempotency_key = $1",
    [orderId],
  );
  return rows;
}

type OutboxRow = { message_id: string; message_type: string; routing_key: string; payload: Uint8Array; created_at: Date };

async function outboxOf(orderId: string): Promise<OutboxRow[]> {
  const { rows } = await orderDb.query<OutboxRow>(
    "SELECT message_id, message_type, routing_key, payload, created_at FROM outbox WHERE message_id LIKE $1 ORDER BY id",
    [`${orderId}.%`],
  );
  return rows;
}

async function updatedAt(orderId: string): Promise<Date | undefined> {
  const { rows } = await orderDb.query<{ updated_at: Date }>("SELECT updated_at FROM orders WHERE order_id = $1", [orderId]);
  return rows[0]?.updated_at;
}

/** Moves an order's creation back an hour, past the saga's pending timeout. */
async function age(orderId: string): Promise<void> {
  await orderDb.query("UPDATE orders SET created_at = created_at - interval '1 hour' WHERE order_id = $1", [orderId]);
}

const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((violation) => violation.field);

/**
 * Hands the order's events in the outbox (all, or those of `type`) to this replica's feed
 * handler, as its queue on the events exchange would: the bytes the relay would publish.
 */
async function deliverOutbox(orderId: string, type?: string): Promise<void> {
  const { rows } = await orderDb.query<{ message_id: string; message_type: string; payload: Uint8Array }>(
    "SELECT message_id, message_type, payload FROM outbox WHERE message_id LIKE $1 AND ($2::text IS NULL OR message_type = $2) ORDER BY id",
    [`${orderId}.%`, type ?? null],
  );
  expect(rows.length).toBeGreaterThan(0);
  const handle = feedHandler(events);
  for (const row of rows) {
    const schema = ORDER_EVENT_SCHEMAS.find((s) => s.typeName === row.message_type)!;
    await handle(fromBinary(schema, row.payload), { messageId: row.message_id, attempts: 0, redelivered: false, headers: {} });
  }
}

/** Every message of a WatchOrder stream until it ends; `onMessage` runs after each. */
async function watchAll(
  orderId: string,
  options: { headers: Record<string, string> },
  onMessage?: (order: Order) => void,
): Promise<Order[]> {
  const seen: Order[] = [];
  for await (const { order } of orders.watchOrder({ orderId }, { ...options, signal: AbortSignal.timeout(10_000) })) {
    expect(order).toBeDefined();
    seen.push(order!);
    onMessage?.(order!);
  }
  return seen;
}

/**
 * An order held at AuthorizePayment (until `authorize.release()`), and a WatchOrder stream of it
 * collecting into `seen` until it ends (`watch`).
 */
async function watchWhileAuthorizing() {
  const { options } = newCaller();
  const authorize = interruptions.hold("AuthorizePayment");
  const placing = place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), options);
  await authorize.reached;
  const [{ orderId }] = (await orders.listOrders({}, options)).orders as [Order];
  const seen: Order[] = [];
  const watch = (async () => {
    for await (const { order } of orders.watchOrder({ orderId }, { ...options, signal: AbortSignal.timeout(10_000) })) seen.push(order!);
  })();
  return { orderId, authorize, placing, seen, watch };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A page token with its decoded JSON parts edited: a token this service never issued. */
function tampered(token: string, edit: (parts: unknown[]) => unknown[]): string {
  const parts = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
  return Buffer.from(JSON.stringify(edit(parts))).toString("base64url");
}

describe("CreateOrder runs the saga over the real inventory and payment handlers", () => {
  it("confirms an order: stock committed, payment captured, lines and total priced by the inventory", async () => {
    const { userId, options } = newCaller();
    const mug = await addProduct(10, 1250n);
    const cap = await addProduct(4, 399n);
    const request = orderOf([
      { sku: mug, quantity: 2 },
      { sku: cap, quantity: 1 },
    ]);

    const order = await place(request, options);

    expect(order.status).toBe(OrderStatus.CONFIRMED);
    expect(order.statusReason).toBe("");
    expect(order).toMatchObject({ userId, requestId: request.requestId, email: "ada@example.com" });
    expect(order.orderId).toMatch(/^ord_[0-9a-f-]{36}$/);
    expect(order.total).toMatchObject({ currencyCode: "EUR", amountMinor: 2899n });
    expect(order.lines.map((line) => [line.sku, line.quantity, line.unitPrice?.amountMinor, line.productName])).toEqual([
      [mug, 2, 1250n, expect.stringMatching(/^Order test product/)],
      [cap, 1, 399n, expect.stringMatching(/^Order test product/)],
    ]);
    expect(await available(mug)).toBe(8);
    expect(await available(cap)).toBe(3);
    expect(await reservationState(order.orderId)).toBe("COMMITTED");
    const { payment } = await payments.getPayment({ paymentId: order.paymentId });
    expect(payment?.state).toBe(PaymentState.CAPTURED);
    expect(payment?.amount).toEqual(order.total);
  });

  it("rejects an order for more than is in stock as 'out of stock', and holds nothing", async () => {
    const { options } = newCaller();
    const plenty = await addProduct(5);
    const scarce = await addProduct(1);

    const order = await place(
      orderOf([
        { sku: plenty, quantity: 2 },
        { sku: scarce, quantity: 2 },
      ]),
      options,
    );

    expect(order.status).toBe(OrderStatus.REJECTED);
    expect(order.statusReason).toBe("out of stock");
    expect(await available(plenty)).toBe(5);
    expect(await available(scarce)).toBe(1);
    expect(await reservationState(order.orderId)).toBeUndefined();
    expect(await paymentsOf(order.orderId)).toEqual([]);
  });

  it("rejects an order for an unknown SKU as 'product unavailable'", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: "SKU-NOPE-410", quantity: 1 }]), options);
    expect(order.status).toBe(OrderStatus.REJECTED);
    expect(order.statusReason).toBe("product unavailable");
  });

  it("rejects a declined card as 'payment declined', releases the stock and holds no authorization", async () => {
    const { options } = newCaller();
    const sku = await addProduct(3);

    const order = await place(orderOf([{ sku, quantity: 2 }], "tok_declined"), options);

    expect(order.status).toBe(OrderStatus.REJECTED);
    expect(order.statusReason).toBe("payment declined");
    expect(order.paymentId).toBe("");
    expect(await available(sku)).toBe(3);
    expect(await reservationState(order.orderId)).toBe("RELEASED");
    expect((await paymentsOf(order.orderId)).map((row) => row.state)).toEqual(["DECLINED"]);
  });

  it("voids the authorization when the stock is no longer held at commit, and rejects the order", async () => {
    const { options } = newCaller();
    const sku = await addProduct(3);
    const commit = interruptions.hold("CommitReservation");
    const placing = place(orderOf([{ sku, quantity: 1 }]), options);
    await commit.reached;
    const [{ orderId }] = (await orders.listOrders({}, options)).orders as [Order];
    await inventory.releaseReservation({ reservationId: orderId }); // as an expiry would
    commit.release();

    const order = await placing;

    expect(order.status).toBe(OrderStatus.REJECTED);
    expect(order.statusReason).toBe("timed out");
    expect((await payments.getPayment({ paymentId: order.paymentId })).payment?.state).toBe(PaymentState.VOIDED);
    expect(await available(sku)).toBe(3);
  });

  it("restocks and rejects when the capture is refused after the stock was committed", async () => {
    const { options } = newCaller();
    const sku = await addProduct(3);
    const capture = interruptions.hold("CapturePayment");
    const placing = place(orderOf([{ sku, quantity: 2 }]), options);
    await capture.reached;
    const [{ orderId }] = (await orders.listOrders({}, options)).orders as [Order];
    expect(await available(sku)).toBe(1);
    await payments.voidPayment({ idempotencyKey: orderId }); // the authorization lapsed
    capture.release();

    const order = await placing;

    expect(order.status).toBe(OrderStatus.REJECTED);
    expect(order.statusReason).toBe("payment could not be completed");
    expect(await reservationState(orderId)).toBe("RELEASED");
    expect(await available(sku)).toBe(3);
  });

  it("answers PENDING while the card processor is unavailable, holding the stock until a later drive rejects it", async () => {
    const { options } = newCaller();
    const sku = await addProduct(3);

    const pending = await place(orderOf([{ sku, quantity: 2 }], "tok_unavailable"), options);

    expect(pending.status).toBe(OrderStatus.PENDING);
    expect(await available(sku)).toBe(1);
    expect(await paymentsOf(pending.orderId)).toEqual([]);
    expect((await outboxOf(pending.orderId)).map((row) => row.message_type)).toEqual([OrderPlacedSchema.typeName]);

    await age(pending.orderId);
    await saga.drive(pending.orderId); // as the recovery loop does, past the pending timeout
    const { order } = await orders.getOrder({ orderId: pending.orderId }, options);
    expect(order?.status).toBe(OrderStatus.REJECTED);
    expect(order?.statusReason).toBe("timed out");
    expect(await available(sku)).toBe(3);
    // The key is voided ahead of any late authorization: it can never hold funds.
    expect((await paymentsOf(pending.orderId)).map((row) => row.state)).toEqual(["VOIDED"]);
  });

  it("returns INVALID_ARGUMENT with a field violation for every bad field, and stores nothing", async () => {
    const { options } = newCaller();
    const sku = await addProduct(3);
    const items = [
      { sku, quantity: 0 },
      { sku: "", quantity: 1 },
      { sku, quantity: 101 },
    ];
    const error = await refusal(orders.createOrder({ requestId: "", items, cardToken: " ", email: "not-an-address" }, options));
    expect(error.code).toBe(Code.InvalidArgument);
    // The repeated SKU is the list's fault (its unique-SKU rule), not one item's.
    expect(fields(error)).toEqual(["request_id", "items", "items[0].quantity", "items[1].sku", "items[2].quantity", "card_token", "email"]);
    const tooLong = await refusal(orders.createOrder({ ...orderOf([]), requestId: "x".repeat(129) }, options));
    // Size limits are checked first, and alone: an overlong field is refused before any other rule runs.
    expect(fields(tooLong)).toEqual(["request_id"]);
    expect((await orders.listOrders({}, options)).orders).toEqual([]);
    expect(await available(sku)).toBe(3);
  });

  it("returns UNAUTHENTICATED with reason MISSING_USER without an x-user-id header", async () => {
    const error = await refusal(orders.createOrder(orderOf([{ sku: await addProduct(1), quantity: 1 }])));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(errorInfo(error)?.reason).toBe("MISSING_USER");
  });
});

describe("CreateOrder is idempotent by request_id", () => {
  it("returns the same order for the same request_id and body, reserving and charging once", async () => {
    const { options } = newCaller();
    const sku = await addProduct(10);
    const request = orderOf([{ sku, quantity: 2 }]);

    const [first, concurrent] = await Promise.all([place(request, options), place(request, options)]);
    const later = await place(request, options);

    expect(concurrent.orderId).toBe(first.orderId);
    expect(later.orderId).toBe(first.orderId);
    expect(later.status).toBe(OrderStatus.CONFIRMED);
    expect(later.paymentId).not.toBe("");
    expect(await paymentsOf(first.orderId)).toEqual([{ state: "CAPTURED", payment_id: later.paymentId }]);
    expect(await available(sku)).toBe(8);
    expect((await orders.listOrders({}, options)).orders).toHaveLength(1);
  });

  it("returns ALREADY_EXISTS with reason REQUEST_ID_REUSED for the same request_id with a different body", async () => {
    const { options } = newCaller();
    const sku = await addProduct(10);
    const request = orderOf([{ sku, quantity: 1 }]);
    const first = await place(request, options);

    const variants: OrderInit[] = [
      { ...request, items: [{ sku, quantity: 2 }] },
      { ...request, cardToken: "tok_declined" },
      { ...request, email: "someone@example.com" },
    ];
    for (const variant of variants) {
      const error = await refusal(orders.createOrder(variant, options));
      expect(error.code).toBe(Code.AlreadyExists);
      expect(errorInfo(error)?.reason).toBe("REQUEST_ID_REUSED");
      expect(errorInfo(error)?.metadata.order_id).toBe(first.orderId);
    }
    expect((await orders.listOrders({}, options)).orders).toHaveLength(1);
    expect(await available(sku)).toBe(9);
  });

  it("scopes request ids to the caller: another caller's same request_id is a new order", async () => {
    const sku = await addProduct(10);
    const request = orderOf([{ sku, quantity: 1 }]);
    const ada = await place(request, newCaller().options);
    const bob = await place(request, newCaller().options);
    expect(bob.orderId).not.toBe(ada.orderId);
    expect(bob.status).toBe(OrderStatus.CONFIRMED);
    expect(await available(sku)).toBe(8);
  });

  it("drives a PENDING order on when the request is retried after its dependency recovers", async () => {
    const { options } = newCaller();
    const sku = await addProduct(5);
    const request = orderOf([{ sku, quantity: 1 }]);
    interruptions.fail("AuthorizePayment");
    let pending: Order;
    try {
      pending = await place(request, options);
    } finally {
      interruptions.heal("AuthorizePayment");
    }
    expect(pending.status).toBe(OrderStatus.PENDING);

    const retried = await place(request, options);

    expect(retried.orderId).toBe(pending.orderId);
    expect(retried.status).toBe(OrderStatus.CONFIRMED);
    expect(await available(sku)).toBe(4);
  });
});

describe("the outbox", () => {
  it("gets OrderPlaced with the order's insert and one event per final status, each in the transaction that sets it", async () => {
    const { userId, options } = newCaller();
    const sku = await addProduct(5, 1999n);
    const request = orderOf([{ sku, quantity: 2 }]);
    const order = await place(request, options);
    await place(request, options); // a retry writes nothing more

    const [placed, confirmed, ...others] = await outboxOf(order.orderId);
    expect(others).toEqual([]);
    expect(placed).toMatchObject({ message_id: `${order.orderId}.placed`, message_type: OrderPlacedSchema.typeName });
    const placedEvent = fromBinary(OrderPlacedSchema, placed!.payload);
    expect(placedEvent.order).toMatchObject({ orderId: order.orderId, userId, status: OrderStatus.PENDING });
    expect(placedEvent.order?.lines.map((line) => [line.sku, line.quantity])).toEqual([[sku, 2]]);

    const type = OrderConfirmedSchema.typeName;
    expect(confirmed).toMatchObject({ message_id: `${order.orderId}.confirmed`, message_type: type, routing_key: type });
    // now() is the transaction's start time: equal timestamps mean the row and the status share a transaction.
    expect(confirmed!.created_at).toEqual(await updatedAt(order.orderId));
    const event = fromBinary(OrderConfirmedSchema, confirmed!.payload);
    expect(event.eventId).toBe(`${order.orderId}.confirmed`);
    expect(event.order && equals(OrderSchema, event.order, order)).toBe(true);

    await orders.cancelOrder({ orderId: order.orderId }, options);
    await orders.cancelOrder({ orderId: order.orderId }, options);
    const rows = await outboxOf(order.orderId);
    expect(rows.map((row) => row.message_id)).toEqual([
      `${order.orderId}.placed`,
      `${order.orderId}.confirmed`,
      `${order.orderId}.cancelled`,
    ]);
    expect(rows[2]!.created_at).toEqual(await updatedAt(order.orderId));
    expect(fromBinary(OrderCancelledSchema, rows[2]!.payload).order?.status).toBe(OrderStatus.CANCELLED);
  });

  it("gets OrderRejected for a rejected order, with the reason", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(1), quantity: 1 }], "tok_declined"), options);
    const rows = await outboxOf(order.orderId);
    expect(rows.map((row) => row.message_id)).toEqual([`${order.orderId}.placed`, `${order.orderId}.rejected`]);
    expect(rows[1]!.created_at).toEqual(await updatedAt(order.orderId));
    expect(fromBinary(OrderRejectedSchema, rows[1]!.payload).reason).toBe(order.statusReason);
  });
});

describe("the reason a customer is shown", () => {
  const internal = "pq: could not serialize access at 10.20.30.40:5432 (payments_pkey, worker pid 4711)";

  it("is a fixed domain reason in GetOrder and in the rejection e-mail, never a dependency's error text", async () => {
    const { options } = newCaller();
    interruptions.refuseNext("AuthorizePayment", new ConnectError(internal, Code.FailedPrecondition));

    const placed = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), options);

    expect(placed.status).toBe(OrderStatus.REJECTED);
    const { order } = await orders.getOrder({ orderId: placed.orderId }, options);
    expect(order?.statusReason).toBe("payment could not be completed");
    const rejected = (await outboxOf(placed.orderId)).find((row) => row.message_type === OrderRejectedSchema.typeName);
    const event = fromBinary(OrderRejectedSchema, rejected!.payload);
    const command = notificationFor(event);
    const email = renderTemplate(command.template, command.parameters);
    expect(email.body).toContain("payment could not be completed");
    for (const text of [order?.statusReason, event.reason, command.parameters.reason, email.subject, email.body]) {
      expect(text).not.toContain("10.20.30.40");
      expect(text).not.toContain("pq:");
    }
  });

  it("is one the notification service's templates know, for every reason the saga can give", () => {
    expect(Object.values(OrderReason).filter((reason) => !CUSTOMER_REASONS.has(reason))).toEqual([]);
  });
});

describe("GetOrder", () => {
  it("returns the caller's order as CreateOrder answered it", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), options);
    const { order: got } = await orders.getOrder({ orderId: order.orderId }, options);
    expect(got && equals(OrderSchema, got, order)).toBe(true);
  });

  it("returns NOT_FOUND with reason ORDER_NOT_FOUND for an unknown order and, alike, for another caller's", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), options);
    const { options: other } = newCaller();

    const unknown = await refusal(orders.getOrder({ orderId: `ord_${randomUUID()}` }, options));
    const someoneElses = await refusal(orders.getOrder({ orderId: order.orderId }, other));

    for (const error of [unknown, someoneElses]) {
      expect(error.code).toBe(Code.NotFound);
      expect(errorInfo(error)?.reason).toBe("ORDER_NOT_FOUND");
    }
    expect(someoneElses.rawMessage).toBe(`shop.order.v1.Order "${order.orderId}" not found`);
  });

  it("returns INVALID_ARGUMENT with an order_id field violation when none is given", async () => {
    const error = await refusal(orders.getOrder({ orderId: "" }, newCaller().options));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["order_id"]);
  });

  it("returns UNAUTHENTICATED without an x-user-id header", async () => {
    expect((await refusal(orders.getOrder({ orderId: "ord_x" }))).code).toBe(Code.Unauthenticated);
  });
});

describe("ListOrders", () => {
  const ORDERS = 23;
  let ada: ReturnType<typeof newCaller>;
  /** Ada's order ids, newest first, as the database orders them. */
  let expected: string[];

  beforeAll(async () => {
    ada = newCaller();
    const bob = newCaller();
    for (const [caller, count] of [
      [ada, ORDERS],
      [bob, 3],
    ] as const) {
      for (let i = 0; i < count; i += 1) {
        const id = randomUUID();
        await store.insertPending({
          orderId: `ord_${id}`,
          userId: caller.userId,
          requestId: id,
          requestHash: "h",
          email: "ada@example.com",
          cardToken: "tok_visa",
          items: [{ sku: "SKU-MUG-001", quantity: 1 }],
          recoveryGraceMs: 600_000,
        });
      }
    }
    const { rows } = await orderDb.query<{ order_id: string }>(
      "SELECT order_id FROM orders WHERE user_id = $1 ORDER BY created_at DESC, order_id DESC",
      [ada.userId],
    );
    expected = rows.map((row) => row.order_id);
    expect(expected).toHaveLength(ORDERS);
  });

  it("returns each of the caller's orders exactly once, newest first, across pages, and no one else's", async () => {
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await orders.listOrders({ pageSize: 4, pageToken }, ada.options);
      expect(page.orders.length).toBeLessThanOrEqual(4);
      expect(page.orders.every((order) => order.userId === ada.userId)).toBe(true);
      seen.push(...page.orders.map((order) => order.orderId));
      pageToken = page.nextPageToken;
      pages += 1;
    } while (pageToken !== "" && pages < 50);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(ORDERS / 4));
  });

  it("serves 20 orders for page_size 0, with a token for the rest", async () => {
    const first = await orders.listOrders({ pageSize: 0 }, ada.options);
    expect(first.orders.map((order) => order.orderId)).toEqual(expected.slice(0, 20));
    const rest = await orders.listOrders({ pageToken: first.nextPageToken }, ada.options);
    expect(rest.orders.map((order) => order.orderId)).toEqual(expected.slice(20));
    expect(rest.nextPageToken).toBe("");
  });

  it("returns INVALID_ARGUMENT with a page_size field violation for a negative page_size", async () => {
    const error = await refusal(orders.listOrders({ pageSize: -1 }, ada.options));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["page_size"]);
  });

  it("returns INVALID_ARGUMENT with a page_token field violation for a token issued to another caller", async () => {
    const { nextPageToken } = await orders.listOrders({ pageSize: 2 }, ada.options);
    const error = await refusal(orders.listOrders({ pageSize: 2, pageToken: nextPageToken }, newCaller().options));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["page_token"]);
  });

  it("returns INVALID_ARGUMENT with a page_token field violation for garbage, truncated and forged tokens", async () => {
    const { nextPageToken } = await orders.listOrders({ pageSize: 2 }, ada.options);
    const at = (createdAt: unknown, orderId?: unknown) =>
      tampered(nextPageToken, ([version, digest, realTime, realId]) => [version, digest, createdAt ?? realTime, orderId ?? realId]);
    const forged = [
      "not a token",
      "e30",
      nextPageToken.slice(0, 20),
      tampered(nextPageToken, ([, digest, ...key]) => ["p9", digest, ...key]),
      tampered(nextPageToken, ([version, digest, createdAt]) => [version, digest, createdAt]),
      tampered(nextPageToken, (parts) => [...parts, "extra"]),
      at(undefined, "ord_1; drop table orders"),
      at("yesterday"),
      at("2026-13-45 99:99:99+00"),
      at("2026-02-30 10:00:00+00"),
      at("2026-01-01 24:00:00+00"),
      at("2026-01-01 10:00:00+99"),
    ];
    for (const pageToken of forged) {
      const error = await refusal(orders.listOrders({ pageSize: 2, pageToken }, ada.options));
      expect(error.code, pageToken).toBe(Code.InvalidArgument);
      expect(fields(error), pageToken).toEqual(["page_token"]);
    }
  });

  it("returns UNAUTHENTICATED without an x-user-id header", async () => {
    expect((await refusal(orders.listOrders({}))).code).toBe(Code.Unauthenticated);
  });
});

describe("CancelOrder", () => {
  it("cancels a CONFIRMED order: refunds the payment and restocks, shown as 'cancelled by customer'; a repeat is a no-op", async () => {
    const { options } = newCaller();
    const sku = await addProduct(5);
    const order = await place(orderOf([{ sku, quantity: 3 }]), options);
    expect(await available(sku)).toBe(2);

    const { order: cancelled } = await orders.cancelOrder({ orderId: order.orderId, reason: "changed my mind" }, options);

    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    expect(cancelled?.statusReason).toBe("cancelled by customer");
    expect((await payments.getPayment({ paymentId: order.paymentId })).payment?.state).toBe(PaymentState.REFUNDED);
    expect(await available(sku)).toBe(5);
    const again = await orders.cancelOrder({ orderId: order.orderId, reason: "twice" }, options);
    expect(again.order && cancelled && equals(OrderSchema, again.order, cancelled)).toBe(true);
    expect(await available(sku)).toBe(5);
  });

  it("records 'cancelled by customer' when no reason is given", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(1), quantity: 1 }]), options);
    expect((await orders.cancelOrder({ orderId: order.orderId }, options)).order?.statusReason).toBe("cancelled by customer");
  });

  it("returns FAILED_PRECONDITION with reason ORDER_NOT_CANCELLABLE for a PENDING or REJECTED order, changing nothing", async () => {
    const { options } = newCaller();
    const sku = await addProduct(5);
    const pending = await place(orderOf([{ sku, quantity: 1 }], "tok_unavailable"), options);
    const rejected = await place(orderOf([{ sku, quantity: 1 }], "tok_declined"), options);
    expect([pending.status, rejected.status]).toEqual([OrderStatus.PENDING, OrderStatus.REJECTED]);

    for (const [order, status] of [
      [pending, "PENDING"],
      [rejected, "REJECTED"],
    ] as const) {
      const error = await refusal(orders.cancelOrder({ orderId: order.orderId }, options));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(errorInfo(error)?.reason).toBe("ORDER_NOT_CANCELLABLE");
      expect(errorInfo(error)?.metadata).toEqual({ order_id: order.orderId, status });
      const { order: after } = await orders.getOrder({ orderId: order.orderId }, options);
      expect(after?.status).toBe(order.status);
    }
    expect(await available(sku)).toBe(4);
  });

  it("returns UNAVAILABLE with reason CANCELLATION_PENDING while the refund cannot be made, and completes on a retry", async () => {
    const { options } = newCaller();
    const sku = await addProduct(5);
    const order = await place(orderOf([{ sku, quantity: 2 }]), options);
    interruptions.fail("RefundPayment");
    try {
      const error = await refusal(orders.cancelOrder({ orderId: order.orderId }, options));
      expect(error.code).toBe(Code.Unavailable);
      expect(errorInfo(error)?.reason).toBe("CANCELLATION_PENDING");
      expect(errorInfo(error)?.metadata.order_id).toBe(order.orderId);
      expect(retryInfo(error)?.retryDelay?.seconds).toBe(2n);
      expect((await orders.getOrder({ orderId: order.orderId }, options)).order?.status).toBe(OrderStatus.CONFIRMED);
      expect(await available(sku)).toBe(3);
    } finally {
      interruptions.heal("RefundPayment");
    }

    const { order: cancelled } = await orders.cancelOrder({ orderId: order.orderId }, options);

    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    expect((await payments.getPayment({ paymentId: order.paymentId })).payment?.state).toBe(PaymentState.REFUNDED);
    expect(await available(sku)).toBe(5);
  });

  it("returns NOT_FOUND with reason ORDER_NOT_FOUND for an unknown order and for another caller's, cancelling nothing", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), options);
    for (const [orderId, caller] of [
      [`ord_${randomUUID()}`, options],
      [order.orderId, newCaller().options],
    ] as const) {
      const error = await refusal(orders.cancelOrder({ orderId }, caller));
      expect(error.code).toBe(Code.NotFound);
      expect(errorInfo(error)?.reason).toBe("ORDER_NOT_FOUND");
    }
    expect((await orders.getOrder({ orderId: order.orderId }, options)).order?.status).toBe(OrderStatus.CONFIRMED);
  });

  it("returns INVALID_ARGUMENT with an order_id field violation when none is given", async () => {
    const error = await refusal(orders.cancelOrder({ orderId: "" }, newCaller().options));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["order_id"]);
  });
});

describe("WatchOrder", () => {
  it("sends the order as it is, then each step of the saga, and ends when the order is CONFIRMED", async () => {
    const { options } = newCaller();
    const sku = await addProduct(5, 700n);
    const reserve = interruptions.hold("ReserveStock");
    const placing = place(orderOf([{ sku, quantity: 2 }]), options);
    await reserve.reached;
    const [{ orderId }] = (await orders.listOrders({}, options)).orders as [Order];

    const seen = await watchAll(orderId, options, () => reserve.release());
    const placed = await placing;

    expect(seen[0]?.status).toBe(OrderStatus.PENDING);
    expect(seen[0]?.total).toBeUndefined();
    expect(seen.slice(1, -1).every((order) => order.status === OrderStatus.PENDING)).toBe(true);
    // Priced by the reservation, then with its authorized payment, before it is confirmed.
    const pending = seen.filter((order) => order.status === OrderStatus.PENDING);
    expect(pending.some((order) => order.total?.amountMinor === 1400n && order.paymentId === "")).toBe(true);
    expect(pending.some((order) => order.paymentId !== "")).toBe(true);
    expect(equals(OrderSchema, seen.at(-1)!, placed)).toBe(true);
    for (let i = 1; i < seen.length; i += 1) expect(equals(OrderSchema, seen[i]!, seen[i - 1]!)).toBe(false);
    expect(events.watchers).toBe(0);
  });

  it("never sends an older state of the order after a newer one when a late notification arrives (the broker's copy of OrderPlaced)", async () => {
    const { orderId, authorize, placing, seen, watch } = await watchWhileAuthorizing();
    await until(() => seen.length === 1); // priced by its reservation
    expect(seen[0]?.total?.amountMinor).toBeGreaterThan(0n);
    await deliverOutbox(orderId); // OrderPlaced: the order before it was priced, arriving now
    authorize.release();
    await watch;

    expect(seen.every((order) => order.total !== undefined)).toBe(true);
    expect(seen.at(-1)?.status).toBe(OrderStatus.CONFIRMED);
    expect(equals(OrderSchema, seen.at(-1)!, await placing)).toBe(true);
    for (let i = 1; i < seen.length; i += 1) {
      expect(timestampMs(seen[i]!.updateTime!)).toBeGreaterThanOrEqual(timestampMs(seen[i - 1]!.updateTime!));
    }
  });

  it("re-reads the order when the feed asks (changes made while it was deaf were never heard), and ends with the order as stored", async () => {
    const { authorize, placing, seen, watch } = await watchWhileAuthorizing();
    await until(() => seen.length === 1);

    events.deaf = true; // the feed's queue is gone: the rest of the saga's changes go unheard here
    authorize.release();
    const placed = await placing;
    expect(placed.status).toBe(OrderStatus.CONFIRMED);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.at(-1)?.status).toBe(OrderStatus.PENDING);

    events.deaf = false;
    events.resync(); // the feed subscribed again
    await watch;
    expect(seen.at(-1)?.status).toBe(OrderStatus.CONFIRMED);
    expect(equals(OrderSchema, seen.at(-1)!, placed)).toBe(true);
    expect(events.watchers).toBe(0);
  });

  it("refuses a caller's WatchOrder stream beyond the per-caller cap with RESOURCE_EXHAUSTED, and takes one again once a stream ends", async () => {
    const { options } = newCaller();
    const pending = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }], "tok_unavailable"), options);
    let opened = 0;
    const open = (controller: AbortController) =>
      (async () => {
        for await (const _ of orders.watchOrder({ orderId: pending.orderId }, { ...options, signal: controller.signal })) opened += 1;
      })().catch(() => undefined);
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const streams = controllers.map(open);
    await until(() => opened === 3 && events.watchers === 3);

    const error = await refusal(watchAll(pending.orderId, options));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(errorInfo(error)?.reason).toBe("TOO_MANY_WATCH_STREAMS");
    expect(errorInfo(error)?.metadata.limit).toBe("3");
    // Another caller is not affected.
    const other = newCaller();
    const settled = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), other.options);
    expect(await watchAll(settled.orderId, other.options)).toHaveLength(1);

    controllers[0]!.abort();
    await until(() => events.watchers === 2);
    const again = new AbortController();
    streams.push(open(again));
    await until(() => opened === 4 && events.watchers === 3);
    for (const controller of [...controllers, again]) controller.abort();
    await Promise.all(streams);
    await until(() => events.watchers === 0);
  });

  it("sends a settled order once and ends the stream", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }], "tok_declined"), options);
    const seen = await watchAll(order.orderId, options);
    expect(seen).toHaveLength(1);
    expect(equals(OrderSchema, seen[0]!, order)).toBe(true);
    expect(events.watchers).toBe(0);
  });

  it("sees a change made by another replica through its events (no database poll), and ends when the order settles", async () => {
    const { options } = newCaller();
    const sku = await addProduct(2);
    const pending = await place(orderOf([{ sku, quantity: 1 }], "tok_unavailable"), options);
    await age(pending.orderId); // past the pending timeout, so the other replica's drive rejects it
    const otherReplica = new OrderSaga({
      store,
      inventory,
      payment: payments,
      events: new OrderEvents(),
      logger: createLogger("order-replica", "silent"),
      options: SAGA,
    });

    // The other replica's change reaches this one only as its event would: from the outbox row, through the feed's handler.
    let driving: Promise<unknown> | undefined;
    const seen = await watchAll(
      pending.orderId,
      options,
      () => (driving ??= otherReplica.drive(pending.orderId).then(() => deliverOutbox(pending.orderId, "shop.order.v1.OrderRejected"))),
    );
    await driving;

    expect(seen.map((order) => order.status)).toEqual([OrderStatus.PENDING, OrderStatus.REJECTED]);
    expect(await available(sku)).toBe(2);
  });

  it("stops watching when the caller cancels the stream while waiting for a change", async () => {
    const { options } = newCaller();
    const pending = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }], "tok_unavailable"), options);
    const controller = new AbortController();
    const seen: OrderStatus[] = [];

    const error = await refusal(
      (async () => {
        for await (const { order } of orders.watchOrder({ orderId: pending.orderId }, { ...options, signal: controller.signal })) {
          seen.push(order!.status);
          // Leave once the stream is waiting for the next change (the in-memory transport pulls
          // messages only as the client reads them, so a watch left mid-message is never resumed).
          setTimeout(() => controller.abort(), 100);
        }
      })(),
    );

    expect(error.code).toBe(Code.Canceled);
    expect(seen).toEqual([OrderStatus.PENDING]);
    await until(() => events.watchers === 0);
  });

  it("returns NOT_FOUND with reason ORDER_NOT_FOUND for an unknown order and for another caller's, holding no watch", async () => {
    const { options } = newCaller();
    const order = await place(orderOf([{ sku: await addProduct(2), quantity: 1 }]), options);
    for (const [orderId, caller] of [
      [`ord_${randomUUID()}`, options],
      [order.orderId, newCaller().options],
    ] as const) {
      const error = await refusal(watchAll(orderId, caller));
      expect(error.code).toBe(Code.NotFound);
      expect(errorInfo(error)?.reason).toBe("ORDER_NOT_FOUND");
    }
    expect(events.watchers).toBe(0);
  });

  it("returns INVALID_ARGUMENT for a missing order id and UNAUTHENTICATED without an x-user-id header", async () => {
    const invalid = await refusal(watchAll("", newCaller().options));
    expect(invalid.code).toBe(Code.InvalidArgument);
    expect(fields(invalid)).toEqual(["order_id"]);
    const anonymous = await refusal(watchAll("ord_x", { headers: {} }));
    expect(anonymous.code).toBe(Code.Unauthenticated);
    expect(events.watchers).toBe(0);
  });
});
