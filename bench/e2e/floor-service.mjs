#!/usr/bin/env node
// The order path's floor: one role of a bare mesh that does an order's unavoidable work and nothing
// else, to measure beside the real mesh in the e2e part. Same processes, same protocol, same data:
// each role is a node:http2 server over mTLS (the mesh's certificates, client certificate required,
// the caller's SPIFFE id checked once per connection) answering the real contracts' messages
// (protobuf-es), with its own PostgreSQL database (pg, the services' real schema) and RabbitMQ
// (amqplib, confirms, persistent, quorum queue for notification). What an order costs here:
//   order:        CreateOrder → 1 INSERT (order, line, OrderPlaced in the outbox) → ReserveStock
//                 → 1 UPDATE (step, prices) → AuthorizePayment → 1 UPDATE → CommitReservation
//                 → 1 UPDATE → CapturePayment → 1 UPDATE (CONFIRMED, OrderConfirmed in the outbox);
//                 the relay claims outbox rows (1 UPDATE a batch), publishes them with confirms and
//                 marks them (1 UPDATE a batch); the order feed consumes both events and acks.
//   inventory:    ReserveStock and CommitReservation, one statement each (as the service runs them).
//   payment:      AuthorizePayment = claim INSERT + settle UPDATE; CapturePayment = one conditional
//                 UPDATE (the service takes a row lock in a transaction: BEGIN, SELECT … FOR UPDATE,
//                 UPDATE, COMMIT).
//   notification: consumes OrderConfirmed, inserts a prefetch window's deliveries in one statement, acks with `multiple`.
// Left out, as not needed for an order to be right on the happy path: request validation, deadlines
// beyond one per call, access tables, leases renewed on a timer, retries and circuit breakers,
// metrics, tracing, logging, health and readiness, idempotent replays, compensation.
//   node bench/e2e/floor-service.mjs <order|inventory|payment|notification>   (environment: see floorEnv in floor-mesh.mjs)
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import {
  CommitReservationRequestSchema,
  CommitReservationResponseSchema,
  ReserveStockRequestSchema,
  ReserveStockResponseSchema,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { OrderConfirmedSchema, OrderPlacedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { OrderSchema, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { CreateOrderRequestSchema, CreateOrderResponseSchema } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import {
  AuthorizePaymentRequestSchema,
  AuthorizePaymentResponseSchema,
  CapturePaymentRequestSchema,
  CapturePaymentResponseSchema,
} from "@shop/contracts/shop/payment/v1/payment_service_pb";
import amqp from "amqplib";
import pg from "pg";
import { consumeInWindows, insertDeliveries } from "../src/floor-consumer.mjs";

const role = process.argv[2];
const env = process.env;
// Every statement a named prepared statement, as the platform runs them: parsed and planned once per connection.
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 10 });
const statementNames = new Map();
const db = {
  query(text, values) {
    let name = statementNames.get(text);
    if (!name) {
      name = `floor_${statementNames.size}`;
      statementNames.set(text, name);
    }
    return pool.query({ name, text, values });
  },
};
const tls = (workload) => ({
  key: readFileSync(join(env.CERTS_DIR, workload, "tls.key")),
  cert: readFileSync(join(env.CERTS_DIR, workload, "tls.crt")),
  ca: readFileSync(join(env.CERTS_DIR, workload, "ca.crt")),
});
/** True when a certificate's subject alternative names (as Node prints them) carry `workload`'s SPIFFE id. */
const isWorkload = (subjectAltName, workload) => (subjectAltName ?? "").split(", ").includes(`URI:spiffe://shop.mesh/${workload}`);
const EXCHANGE = `${env.AMQP_PREFIX}floor.events`;

// --- gRPC over HTTP/2: one unary server and one pooled client session per upstream -----------------

const frame = (bytes) => {
  const out = Buffer.allocUnsafe(5 + bytes.byteLength);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
};
const unframe = (chunks) => {
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  return body.subarray(5, 5 + body.readUInt32BE(1));
};

/** Serves `methods` ({path: {input, output, allowed, handle(request, headers)}}) over mTLS on PORT. */
function serveUnary(methods) {
  const server = http2.createSecureServer({ ...tls(role), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ["h2"] });
  const callers = new WeakMap(); // session → the caller's SPIFFE id, read once per connection
  server.on("stream", (stream, headers) => {
    const method = methods[headers[":path"]];
    let caller = callers.get(stream.session);
    if (caller === undefined) {
      caller = stream.session.socket.getPeerCertificate().subjectaltname ?? "";
      callers.set(stream.session, caller);
    }
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("error", () => {});
    stream.on("end", async () => {
      let status = "0";
      let message = "";
      let body;
      try {
        if (!method) [status, message] = ["12", "unknown method"];
        else if (!method.allowed.some((workload) => isWorkload(caller, workload))) [status, message] = ["7", "caller not allowed"];
        else {
          const response = await method.handle(fromBinary(method.input, unframe(chunks)), headers);
          body = frame(toBinary(method.output, create(method.output, response)));
        }
      } catch (error) {
        [status, message] = ["13", String(error?.message ?? error)];
      }
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () =>
        stream.sendTrailers(
          status === "0" ? { "grpc-status": status } : { "grpc-status": status, "grpc-message": encodeURIComponent(message) },
        ),
      );
      stream.end(body);
    });
  });
  return new Promise((resolve) => server.listen(Number(env.PORT), "127.0.0.1", () => resolve(server)));
}

/** A unary client of the `workload` at `address`, over one HTTP/2 session, checking the server's SPIFFE id. */
function unaryClient(workload, address) {
  let session;
  const connect = () => {
    session = http2.connect(`https://${address}`, {
      ...tls(role),
      checkServerIdentity: (_host, certificate) =>
        isWorkload(certificate.subjectaltname, workload) ? undefined : new Error(`not ${workload}`),
    });
    session.on("error", () => {});
    session.on("close", () => (session = undefined));
    return session;
  };
  return (path, input, output, message) =>
    new Promise((resolve, reject) => {
      const stream = (session ?? connect()).request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "5S",
      });
      const chunks = [];
      let status;
      let grpcMessage = "";
      stream.on("response", (headers) => (status = headers["grpc-status"]));
      stream.on("trailers", (trailers) => {
        status = trailers["grpc-status"];
        grpcMessage = decodeURIComponent(trailers["grpc-message"] ?? "");
      });
      stream.on("data", (chunk) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("close", () => {
        if (status === "0" && chunks.length > 0) resolve(fromBinary(output, unframe(chunks)));
        else reject(new Error(`${path}: grpc-status ${status} ${grpcMessage}`));
      });
      stream.end(frame(toBinary(input, create(input, message))));
    });
}

// --- the four roles ----------------------------------------------------------------------------------

const money = (currencyCode, amountMinor) => ({ currencyCode, amountMinor: BigInt(amountMinor) });

async function inventory() {
  const reservationOf = (row, state) => ({
    reservationId: row.reservation_id,
    state,
    lines: [
      { sku: row.sku, quantity: row.quantity, unitPrice: money(row.currency_code, row.unit_price_minor), productName: row.product_name },
    ],
    expireTime: timestampFromDate(row.expire_at),
    createTime: timestampFromDate(row.created_at),
  });
  await serveUnary({
    "/shop.inventory.v1.InventoryService/ReserveStock": {
      input: ReserveStockRequestSchema,
      output: ReserveStockResponseSchema,
      allowed: ["order"],
      async handle({ reservationId, lines: [line] }) {
        const { rows } = await db.query(
          `WITH p AS (
             UPDATE products SET reserved = reserved + $3
             WHERE sku = $2 AND on_hand - reserved >= $3 AND NOT EXISTS (SELECT 1 FROM reservations WHERE reservation_id = $1)
             RETURNING sku, price_minor, currency_code, name),
           r AS (
             INSERT INTO reservations (reservation_id, state, expire_at) SELECT $1, 'HELD', now() + interval '15 minutes' FROM p
             RETURNING reservation_id, expire_at, created_at),
           l AS (
             INSERT INTO reservation_lines (reservation_id, sku, quantity, unit_price_minor, currency_code, product_name)
             SELECT r.reservation_id, p.sku, $3, p.price_minor, p.currency_code, p.name FROM p, r
             RETURNING sku, quantity, unit_price_minor, currency_code, product_name)
           SELECT r.*, l.* FROM r, l`,
          [reservationId, line.sku, line.quantity],
        );
        if (!rows[0]) throw new Error("out of stock");
        return { reservation: reservationOf(rows[0], ReservationState.HELD) };
      },
    },
    "/shop.inventory.v1.InventoryService/CommitReservation": {
      input: CommitReservationRequestSchema,
      output: CommitReservationResponseSchema,
      allowed: ["order"],
      async handle({ reservationId }) {
        const { rows } = await db.query(
          `WITH r AS (
             UPDATE reservations SET state = 'COMMITTED', updated_at = now()
             WHERE reservation_id = $1 AND state = 'HELD' AND expire_at > now() RETURNING reservation_id, expire_at, created_at),
           p AS (
             UPDATE products p SET on_hand = p.on_hand - l.quantity, reserved = p.reserved - l.quantity
             FROM reservation_lines l, r WHERE l.reservation_id = r.reservation_id AND l.sku = p.sku RETURNING p.sku)
           SELECT r.*, l.* FROM r, reservation_lines l WHERE l.reservation_id = r.reservation_id AND (SELECT count(*) FROM p) > 0`,
          [reservationId],
        );
        if (!rows[0]) throw new Error("not held");
        return { reservation: reservationOf(rows[0], ReservationState.COMMITTED) };
      },
    },
  });
}

async function payment() {
  const paymentOf = (row) => ({
    paymentId: row.payment_id,
    orderId: row.order_id,
    amount: money(row.currency_code, row.amount_minor),
    state: PaymentState[row.state],
    createTime: timestampFromDate(row.created_at),
    updateTime: timestampFromDate(row.updated_at),
  });
  await serveUnary({
    "/shop.payment.v1.PaymentService/AuthorizePayment": {
      input: AuthorizePaymentRequestSchema,
      output: AuthorizePaymentResponseSchema,
      allowed: ["order"],
      async handle({ idempotencyKey, orderId, amount, cardToken }) {
        const paymentId = `pay_${randomUUID().replaceAll("-", "")}`;
        const claimed = await db.query(
          `INSERT INTO payments (payment_id, idempotency_key, order_id, currency_code, amount_minor, card_token, state)
           VALUES ($1, $2, $3, $4, $5, $6, 'PENDING') ON CONFLICT (idempotency_key) DO NOTHING RETURNING payment_id`,
          [paymentId, idempotencyKey, orderId, amount.currencyCode, amount.amountMinor.toString(), cardToken],
        );
        if (!claimed.rows[0]) throw new Error("key already used");
        const approved = cardToken === "tok_visa"; // the simulated processor's answer
        const { rows } = await db.query(
          `UPDATE payments SET state = $2, processor_ref = $3, decline_reason = $4, updated_at = now()
           WHERE payment_id = $1 AND state = 'PENDING' RETURNING *`,
          [paymentId, approved ? "AUTHORIZED" : "DECLINED", approved ? `sim_${randomUUID()}` : "", approved ? "" : "card declined"],
        );
        return { payment: paymentOf(rows[0]) };
      },
    },
    "/shop.payment.v1.PaymentService/CapturePayment": {
      input: CapturePaymentRequestSchema,
      output: CapturePaymentResponseSchema,
      allowed: ["order"],
      async handle({ paymentId }) {
        const { rows } = await db.query(
          "UPDATE payments SET state = 'CAPTURED', updated_at = now() WHERE payment_id = $1 AND state = 'AUTHORIZED' RETURNING *",
          [paymentId],
        );
        if (!rows[0]) throw new Error("not capturable");
        return { payment: paymentOf(rows[0]) };
      },
    },
  });
}

async function order() {
  const reserveStock = unaryClient("inventory", env.INVENTORY_URL);
  const callPayment = unaryClient("payment", env.PAYMENT_URL);
  const broker = await amqp.connect(env.AMQP_URL);
  const publisher = await broker.createConfirmChannel();
  await publisher.assertExchange(EXCHANGE, "topic", { durable: true });

  // The relay: claims what the outbox holds, publishes it with confirms, marks it; woken after each commit.
  let relaying = false;
  let again = false;
  const relay = async () => {
    if (relaying) {
      again = true;
      return;
    }
    relaying = true;
    try {
      do {
        again = false;
        const { rows } = await db.query(
          `UPDATE outbox SET claimed_until = now() + interval '30 seconds' WHERE id IN (
             SELECT id FROM outbox WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
             ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id, message_id, routing_key, payload`,
        );
        if (rows.length === 0) continue;
        for (const row of rows) {
          publisher.publish(EXCHANGE, row.routing_key, row.payload, { persistent: true, mandatory: true, messageId: row.message_id });
        }
        await publisher.waitForConfirms();
        await db.query("UPDATE outbox SET published_at = now(), claimed_until = NULL WHERE id = ANY($1)", [rows.map((r) => r.id)]);
        if (rows.length === 100) again = true;
      } while (again);
    } finally {
      relaying = false;
    }
  };
  const wake = () => void relay().catch((error) => console.error("relay:", error.message));

  // The order feed: every order event, decoded and acknowledged (the service hands them to WatchOrder streams).
  const feed = await broker.createChannel();
  await feed.prefetch(64);
  const { queue } = await feed.assertQueue("", { exclusive: true });
  for (const schema of [OrderPlacedSchema, OrderConfirmedSchema]) await feed.bindQueue(queue, EXCHANGE, schema.typeName);
  await feed.consume(queue, (message) => {
    const schema = message.fields.routingKey === OrderPlacedSchema.typeName ? OrderPlacedSchema : OrderConfirmedSchema;
    fromBinary(schema, message.content);
    feed.ack(message);
  });

  const orderOf = (row, lines, status) =>
    create(OrderSchema, {
      orderId: row.order_id,
      userId: row.user_id,
      requestId: row.request_id,
      email: row.email,
      status,
      paymentId: row.payment_id,
      total: money(row.currency_code || "EUR", row.total_minor),
      lines,
      createTime: timestampFromDate(row.created_at),
      updateTime: timestampFromDate(row.updated_at),
    });
  const withOutbox = (event, eventId, order) => [
    eventId,
    event.typeName,
    Buffer.from(toBinary(event, create(event, { eventId, occurTime: timestampNow(), order }))),
  ];
  const step = (set, params) =>
    db.query(`UPDATE orders SET ${set}, updated_at = now() WHERE order_id = $1 AND lease_token = 1 RETURNING *`, params);

  await serveUnary({
    "/shop.order.v1.OrderService/CreateOrder": {
      input: CreateOrderRequestSchema,
      output: CreateOrderResponseSchema,
      allowed: ["gateway"],
      async handle(request, headers) {
        const orderId = `ord_${randomUUID()}`;
        const userId = String(headers["x-user-id"] ?? "");
        const [item] = request.items;
        const placed = create(OrderSchema, {
          orderId,
          userId,
          requestId: request.requestId,
          email: request.email,
          status: OrderStatus.PENDING,
          lines: [{ sku: item.sku, quantity: item.quantity }],
        });
        const { rows: inserted } = await db.query(
          `WITH o AS (
             INSERT INTO orders (order_id, user_id, request_id, request_hash, email, card_token, status, saga_step, lease_token, locked_until)
             VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', 'RESERVING', 1, now() + interval '30 seconds') RETURNING *),
           l AS (INSERT INTO order_lines (order_id, line_no, sku, quantity) SELECT o.order_id, 0, $7, $8 FROM o),
           x AS (INSERT INTO outbox (message_id, message_type, routing_key, payload) VALUES ($9, $10, $10, $11))
           SELECT * FROM o`,
          [
            orderId,
            userId,
            request.requestId,
            request.requestId,
            request.email,
            request.cardToken,
            item.sku,
            item.quantity,
            ...withOutbox(OrderPlacedSchema, `${orderId}.placed`, placed),
          ],
        );
        wake();
        let row = inserted[0];
        const { reservation } = await reserveStock(
          "/shop.inventory.v1.InventoryService/ReserveStock",
          ReserveStockRequestSchema,
          ReserveStockResponseSchema,
          { reservationId: orderId, lines: [{ sku: item.sku, quantity: item.quantity }] },
        );
        const [priced] = reservation.lines;
        const total = money(priced.unitPrice.currencyCode, priced.unitPrice.amountMinor * BigInt(priced.quantity));
        ({
          rows: [row],
        } = await db.query(
          `WITH o AS (UPDATE orders SET saga_step = 'AUTHORIZING', currency_code = $2, total_minor = $3, updated_at = now()
             WHERE order_id = $1 AND lease_token = 1 RETURNING *),
           l AS (UPDATE order_lines SET unit_price_minor = $4, currency_code = $2, product_name = $5 WHERE order_id = $1 AND line_no = 0)
           SELECT * FROM o`,
          [orderId, total.currencyCode, total.amountMinor.toString(), priced.unitPrice.amountMinor.toString(), priced.productName],
        ));
        const { payment: authorized } = await callPayment(
          "/shop.payment.v1.PaymentService/AuthorizePayment",
          AuthorizePaymentRequestSchema,
          AuthorizePaymentResponseSchema,
          { idempotencyKey: orderId, orderId, amount: total, cardToken: request.cardToken },
        );
        if (authorized.state !== PaymentState.AUTHORIZED) throw new Error("not authorized");
        await step("saga_step = 'COMMITTING', payment_id = $2", [orderId, authorized.paymentId]);
        await reserveStock(
          "/shop.inventory.v1.InventoryService/CommitReservation",
          CommitReservationRequestSchema,
          CommitReservationResponseSchema,
          {
            reservationId: orderId,
          },
        );
        await step("saga_step = 'CAPTURING'", [orderId]);
        await callPayment("/shop.payment.v1.PaymentService/CapturePayment", CapturePaymentRequestSchema, CapturePaymentResponseSchema, {
          paymentId: authorized.paymentId,
        });
        const lines = [{ sku: priced.sku, quantity: priced.quantity, unitPrice: priced.unitPrice, productName: priced.productName }];
        const confirmed = orderOf({ ...row, payment_id: authorized.paymentId, updated_at: new Date() }, lines, OrderStatus.CONFIRMED);
        const { rows: done } = await db.query(
          `WITH o AS (UPDATE orders SET status = 'CONFIRMED', saga_step = 'DONE', locked_until = NULL, updated_at = now()
             WHERE order_id = $1 AND lease_token = 1 RETURNING *),
           x AS (INSERT INTO outbox (message_id, message_type, routing_key, payload) SELECT $2, $3, $3, $4 FROM o)
           SELECT * FROM o`,
          [orderId, ...withOutbox(OrderConfirmedSchema, `${orderId}.confirmed`, confirmed)],
        );
        wake();
        return { order: orderOf(done[0], lines, OrderStatus.CONFIRMED) };
      },
    },
  });
}

async function notification() {
  const broker = await amqp.connect(env.AMQP_URL);
  const channel = await broker.createChannel();
  await channel.assertExchange(EXCHANGE, "topic", { durable: true });
  const queue = `${env.AMQP_PREFIX}floor.notification`;
  await channel.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  await channel.bindQueue(queue, EXCHANGE, OrderConfirmedSchema.typeName);
  await channel.prefetch(64);
  // A prefetch window's deliveries in one INSERT (a repeated event id is a no-op), then one ack with `multiple`.
  await consumeInWindows(channel, queue, {
    decode: (message) => fromBinary(OrderConfirmedSchema, message.content),
    write: (events) =>
      insertDeliveries(
        db.query,
        events.map(({ eventId, order }) => ({
          n: `ntf_${randomUUID()}`,
          c: eventId,
          ch: "email",
          r: order.email,
          t: "order-confirmed",
          p: {},
          b: `Order ${order.orderId} confirmed: ${order.total?.amountMinor} ${order.total?.currencyCode}`,
          o: order.orderId,
          u: order.userId,
        })),
      ),
    onError: (error) => console.error("notification:", error.message),
  });
}

await { order, inventory, payment, notification }[role]();
process.stdout.write("ready\n");
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
