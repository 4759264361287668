// The checker: after the workload and the faults, reads the services' own databases and the broker, and sorts
// every discrepancy into the categories of the rabbitmq/jepsen checker — lost (something acknowledged or owed
// that never happened), unexpected (something that happened that nobody asked for, or that contradicts an
// answer), duplicate (something that happened more than once).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { connect } from "amqplib";
import pg from "pg";

const run = promisify(execFile);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const TEMPLATES = { CONFIRMED: ["order_confirmed"], REJECTED: ["order_rejected"], CANCELLED: ["order_cancelled", "order_confirmed"] };

/** Map.groupBy, which Node 20 lacks. */
function groupBy(items, key) {
  const groups = new Map();
  for (const item of items) {
    const k = key(item);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(item);
  }
  return groups;
}

async function query(url, sql, params = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Each SKU's stock now: { sku: { onHand, reserved } }. */
export async function stockLevels(inventoryUrl) {
  const rows = await query(inventoryUrl, "SELECT sku, on_hand, reserved FROM products");
  return Object.fromEntries(rows.map((row) => [row.sku, { onHand: Number(row.on_hand), reserved: Number(row.reserved) }]));
}

/** The run's queues as the broker reports them: name -> messages (ready + unacknowledged). */
export async function queueDepths(prefix) {
  const { stdout } = await run("rabbitmqctl", ["-q", "--formatter", "json", "list_queues", "name", "messages"]);
  return new Map(
    JSON.parse(stdout)
      .filter((row) => row.name.startsWith(prefix))
      .map((row) => [row.name, Number(row.messages)]),
  );
}

/** Unpublished outbox rows and the age of the oldest, in seconds. */
export async function outboxLag(orderUrl) {
  const [row] = await query(
    orderUrl,
    "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM outbox WHERE published_at IS NULL",
  );
  return { unpublished: Number(row.n), oldestSeconds: Number(row.age) };
}

async function waitFor(probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value?.done) return { met: true, value };
    if (Date.now() > deadline) return { met: false, value };
    await sleep(200);
  }
}

/** The message ids in the run's dead-letter queues (read, then left where they are). */
async function deadLetters(amqpUrl, queues) {
  const connection = await connect(amqpUrl);
  const ids = [];
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) {
      for (let msg = await channel.get(queue, { noAck: false }); msg; msg = await channel.get(queue, { noAck: false })) {
        ids.push(String(msg.properties.messageId ?? ""));
      }
    }
    await channel.close(); // unacknowledged: the broker puts them all back
  } finally {
    await connection.close();
  }
  return ids;
}

/**
 * Waits for the mesh to settle — every order's saga done within `settleMs` (the pending timeout plus recovery),
 * the outbox drained, the queues empty of all but dead letters — then checks. Resolves to
 * `{ findings: [{ category, check, detail }], stats }`.
 */
export async function check({ meshEnv, records, initialStock, poisonIds, settleMs, amqpUrl }) {
  const findings = [];
  const add = (category, checkName, detail) => findings.push({ category, check: checkName, detail });
  const { databases, amqpPrefix } = meshEnv;

  // 1. Every order final within the pending timeout plus recovery.
  const settled = await waitFor(async () => {
    const [row] = await query(databases.order, "SELECT count(*) AS n FROM orders WHERE saga_step <> 'DONE'");
    return { done: Number(row.n) === 0, unfinished: Number(row.n) };
  }, settleMs);
  // 2. The outbox drained and every queue but the dead-letter ones empty: all notifications delivered.
  const drained = await waitFor(async () => {
    const lag = await outboxLag(databases.order);
    const depths = await queueDepths(amqpPrefix);
    const busy = [...depths].filter(([name, n]) => !name.endsWith(".dlq") && n > 0);
    return { done: lag.unpublished === 0 && busy.length === 0, lag, busy };
  }, 60_000);
  if (!drained.met) {
    const { lag, busy } = drained.value ?? {};
    if (lag?.unpublished) add("lost", "outbox drained", `${lag.unpublished} outbox row(s) never published`);
    if (busy?.length)
      add("lost", "notifications delivered", `queues still holding messages: ${busy.map(([n, c]) => `${n}=${c}`).join(", ")}`);
  }

  const orders = await query(
    databases.order,
    "SELECT order_id, user_id, request_id, status, saga_step, total_minor, card_token FROM orders ORDER BY created_at",
  );
  const lines = await query(databases.order, "SELECT order_id, sku, quantity FROM order_lines");
  // Keyed by the idempotency key — the saga's order id — which a void-by-key tombstone has too (its order_id is blank).
  const payments = await query(databases.payment, "SELECT payment_id, idempotency_key AS order_id, state, amount_minor FROM payments");
  const reservations = await query(
    databases.inventory,
    "SELECT r.reservation_id, r.state, l.sku, l.quantity FROM reservations r JOIN reservation_lines l USING (reservation_id)",
  );
  const deliveries = await query(databases.notification, "SELECT order_id, template, command_id FROM deliveries");
  const stock = await stockLevels(databases.inventory);

  const byRequest = new Map(records.map((record) => [`${record.user}/${record.requestId}`, record]));
  const orderById = new Map(orders.map((order) => [order.order_id, order]));
  const statusName = (order) => order.status.replace(/^ORDER_STATUS_/, "");

  // Orders: each one a client placed, once; final; consistent with what the clients were told.
  const ordersPerRequest = new Map();
  for (const order of orders) {
    const key = `${order.user_id}/${order.request_id}`;
    ordersPerRequest.set(key, (ordersPerRequest.get(key) ?? 0) + 1);
    const record = byRequest.get(key);
    if (!record) add("unexpected", "orders placed by a client", `order ${order.order_id} has request id ${key} no client sent`);
    if (order.saga_step !== "DONE" || statusName(order) === "PENDING")
      add("lost", "orders final in time", `order ${order.order_id} still ${order.status}/${order.saga_step} after ${settleMs} ms`);
    if (record?.card === "tok_declined" && statusName(order) === "CONFIRMED")
      add("unexpected", "orders final in time", `order ${order.order_id} paid with a declined card was CONFIRMED`);
  }
  for (const [key, n] of ordersPerRequest) if (n > 1) add("duplicate", "one order per request id", `${n} orders for ${key}`);
  for (const record of records) {
    if (record.errors.some((e) => e.startsWith("create-again:DIFFERENT_ORDER")))
      add("duplicate", "one order per request id", `a retry of ${record.requestId} was answered with another order`);
    if (!record.orderId) continue;
    const order = orderById.get(record.orderId);
    if (!order) {
      add("lost", "orders placed by a client", `order ${record.orderId} acknowledged to ${record.user} is not in the order database`);
      continue;
    }
    const final = statusName(order);
    const told = record.final === undefined ? undefined : OrderStatus[record.final];
    if (told && told !== final && !(told === "CONFIRMED" && final === "CANCELLED"))
      add("unexpected", "orders final in time", `order ${record.orderId}: the client was told ${told}, the order ended ${final}`);
    if (record.cancel === "acked" && final !== "CANCELLED")
      add("lost", "cancellations", `order ${record.orderId}: cancellation acknowledged, the order ended ${final}`);
    for (const seen of record.watched ?? []) {
      const name = OrderStatus[seen];
      if (["CONFIRMED", "REJECTED", "CANCELLED"].includes(name) && name !== final && !(name === "CONFIRMED" && final === "CANCELLED"))
        add("unexpected", "WatchOrder streams", `order ${record.orderId}: a watch saw ${name}, the order ended ${final}`);
    }
  }

  // Payments: one capture per CONFIRMED order for its total, every authorization of a REJECTED order voided,
  // every CANCELLED order refunded once.
  const paymentsByOrder = groupBy(payments, (payment) => payment.order_id);
  for (const [orderId, rows] of paymentsByOrder) {
    if (!orderById.has(orderId))
      add("unexpected", "payments", `payment(s) ${rows.map((r) => r.payment_id).join(", ")} for unknown order ${orderId}`);
    if (rows.length > 1) add("duplicate", "payments", `${rows.length} payments for order ${orderId}`);
  }
  for (const order of orders) {
    const rows = paymentsByOrder.get(order.order_id) ?? [];
    const states = rows.map((row) => row.state);
    const final = statusName(order);
    if (final === "CONFIRMED") {
      const captured = rows.filter((row) => row.state === "CAPTURED");
      if (captured.length === 0)
        add("lost", "payments", `CONFIRMED order ${order.order_id} has no capture (${states.join(",") || "no payment"})`);
      for (const row of captured)
        if (String(row.amount_minor) !== String(order.total_minor))
          add("unexpected", "payments", `order ${order.order_id} captured ${row.amount_minor}, its total is ${order.total_minor}`);
    } else if (final === "REJECTED") {
      for (const row of rows) {
        if (row.state === "AUTHORIZED" || row.state === "PENDING")
          add("lost", "payments", `REJECTED order ${order.order_id}: authorization ${row.payment_id} not voided`);
        if (row.state === "CAPTURED" || row.state === "REFUNDED")
          add("unexpected", "payments", `REJECTED order ${order.order_id}: payment ${row.payment_id} ${row.state}`);
      }
    } else if (final === "CANCELLED") {
      if (states.filter((state) => state === "REFUNDED").length !== 1 || rows.length !== 1)
        add("lost", "payments", `CANCELLED order ${order.order_id} not refunded exactly once (${states.join(",")})`);
    }
  }

  // Stock, per SKU: initial = available + held by live reservations + sold − restocked by cancellations.
  const perSku = {};
  const reservationsById = groupBy(reservations, (row) => row.reservation_id);
  for (const [reservationId, rows] of reservationsById) {
    const order = orderById.get(reservationId);
    if (!order) add("unexpected", "stock", `reservation ${reservationId} for no order`);
    const state = rows[0].state;
    const final = order ? statusName(order) : undefined;
    if (final === "CONFIRMED" && state !== "COMMITTED")
      add("lost", "stock", `CONFIRMED order ${reservationId}: reservation ${state}, not COMMITTED`);
    if ((final === "REJECTED" || final === "CANCELLED") && (state === "HELD" || state === "COMMITTED"))
      add("lost", "stock", `${final} order ${reservationId}: stock still ${state}`);
    for (const row of rows) {
      perSku[row.sku] ??= { held: 0, sold: 0, restocked: 0 };
      const sku = perSku[row.sku];
      if (state === "HELD") sku.held += row.quantity;
      if (state === "COMMITTED") sku.sold += row.quantity;
      if (state === "RELEASED" && final === "CANCELLED") {
        sku.sold += row.quantity;
        sku.restocked += row.quantity;
      }
    }
  }
  for (const order of orders.filter((o) => statusName(o) === "CONFIRMED" || statusName(o) === "CANCELLED")) {
    if (!reservationsById.has(order.order_id)) add("lost", "stock", `${statusName(order)} order ${order.order_id} has no reservation`);
    const ordered = lines.filter((line) => line.order_id === order.order_id);
    const reserved = reservationsById.get(order.order_id) ?? [];
    for (const line of ordered) {
      const match = reserved.find((row) => row.sku === line.sku);
      if (match && match.quantity !== line.quantity)
        add("unexpected", "stock", `order ${order.order_id}: ${line.quantity} x ${line.sku} ordered, ${match.quantity} reserved`);
    }
  }
  const stockRows = [];
  for (const [sku, initial] of Object.entries(initialStock)) {
    const now = stock[sku];
    const flows = perSku[sku] ?? { held: 0, sold: 0, restocked: 0 };
    const available = now.onHand - now.reserved;
    const accounted = available + flows.held + flows.sold - flows.restocked;
    stockRows.push({ sku, initial: initial.onHand, available, held: flows.held, sold: flows.sold, restocked: flows.restocked });
    if (now.reserved !== flows.held)
      add(
        now.reserved > flows.held ? "unexpected" : "lost",
        "stock",
        `${sku}: ${now.reserved} reserved, live reservations hold ${flows.held}`,
      );
    if (accounted < initial.onHand) add("lost", "stock", `${sku}: ${initial.onHand - accounted} unit(s) unaccounted for`);
    if (accounted > initial.onHand) add("unexpected", "stock", `${sku}: ${accounted - initial.onHand} unit(s) appeared`);
  }

  // Notifications: exactly one per final status per order.
  const deliveriesByOrder = groupBy(deliveries, (delivery) => delivery.order_id);
  for (const [orderId, rows] of deliveriesByOrder)
    if (!orderById.has(orderId)) add("unexpected", "notifications", `${rows.length} notification(s) for unknown order ${orderId}`);
  for (const order of orders) {
    const expected = TEMPLATES[statusName(order)] ?? [];
    const got = (deliveriesByOrder.get(order.order_id) ?? []).map((row) => row.template);
    for (const template of expected) {
      const n = got.filter((t) => t === template).length;
      if (n === 0) add("lost", "notifications", `order ${order.order_id} (${statusName(order)}): no ${template}`);
      if (n > 1) add("duplicate", "notifications", `order ${order.order_id}: ${n} x ${template}`);
    }
    for (const template of new Set(got))
      if (!expected.includes(template)) add("unexpected", "notifications", `order ${order.order_id} (${statusName(order)}): ${template}`);
  }

  // Outbox drained; dead-letter queues hold the injected poison and nothing else.
  const lag = await outboxLag(databases.order);
  if (lag.unpublished > 0 && drained.met) add("lost", "outbox drained", `${lag.unpublished} outbox row(s) unpublished`);
  const dlqs = [...(await queueDepths(amqpPrefix)).keys()].filter((name) => name.endsWith(".dlq"));
  const letters = await deadLetters(amqpUrl, dlqs);
  for (const id of letters) if (!poisonIds.includes(id)) add("lost", "dead letters", `command ${id} dead-lettered`);
  for (const id of poisonIds) {
    const n = letters.filter((letter) => letter === id).length;
    if (n === 0) add("lost", "dead letters", `injected poison ${id} is not in the dead-letter queue`);
    if (n > 1) add("duplicate", "dead letters", `injected poison ${id} dead-lettered ${n} times`);
  }

  const count = (status) => orders.filter((order) => statusName(order) === status).length;
  return {
    findings,
    stats: {
      settled: settled.met,
      orders: orders.length,
      acknowledged: records.filter((record) => record.orderId).length,
      attempts: records.length,
      confirmed: count("CONFIRMED"),
      rejected: count("REJECTED"),
      cancelled: count("CANCELLED"),
      pending: orders.length - count("CONFIRMED") - count("REJECTED") - count("CANCELLED"),
      payments: payments.length,
      notifications: deliveries.length,
      deadLetters: letters.length,
      watches: records.filter((record) => record.watched).length,
      watchesSawFinal: records.filter((record) =>
        record.watched?.some((s) => [OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED].includes(s)),
      ).length,
      clientRetries: records.reduce((n, record) => n + record.errors.length, 0),
      stock: stockRows,
    },
  };
}
