import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, isMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { OrderConfirmedSchema, OrderPlacedSchema, OrderRejectedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { type ChannelModel, connect } from "amqplib";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/database/database.js";
import { openDatabase } from "../src/database/index.js";
import {
  broadcastTopology,
  type Consumer,
  connectMessaging,
  createPublisher,
  type DeliveryInfo,
  declareExchange,
  declareTopology,
  enqueueOutbox,
  type MessagingConnection,
  OUTBOX_TABLE_SQL,
  type Publisher,
  startConsumer,
  startOutboxRelay,
  subscriberTopology,
  UnprocessableMessageError,
} from "../src/messaging/index.js";
import { rabbitTestScope } from "../src/testing/rabbitmq.js";
import { waitFor } from "../src/testing/wait.js";

// Spans are recorded in memory: the platform's tracer is the global provider's when no exporter was set up.
const spans = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).register();

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-events");
const EXCHANGE = "test.events";
const exchange = `${scope.prefix}${EXCHANGE}`;
// Two subscribers on one topic exchange: "audit" takes confirmations and rejections, "mailer" confirmations only.
const audit = subscriberTopology({
  prefix: scope.prefix,
  exchange: EXCHANGE,
  queue: "test.audit.order-events",
  routingKeys: [OrderConfirmedSchema.typeName, OrderRejectedSchema.typeName],
  retryDelaysMs: [100],
});
const mailer = subscriberTopology({
  prefix: scope.prefix,
  exchange: EXCHANGE,
  queue: "test.mailer.order-events",
  routingKeys: [OrderConfirmedSchema.typeName],
  retryDelaysMs: [100],
});
let connection: MessagingConnection;
let publisher: Publisher;
let raw: ChannelModel;

const confirmed = (orderId: string) =>
  create(OrderConfirmedSchema, { eventId: `${orderId}.confirmed`, order: { orderId, userId: "ada", email: "ada@example.com" } });
const rejected = (orderId: string) =>
  create(OrderRejectedSchema, { eventId: `${orderId}.rejected`, order: { orderId, userId: "ada" }, reason: "out of stock" });

type Confirmed = MessageShape<typeof OrderConfirmedSchema>;
type Rejected = MessageShape<typeof OrderRejectedSchema>;

/** Consumers for the subscribers given handlers — audit (confirmations and rejections), mailer (confirmations) — closed together. */
function subscribe(handlers: {
  audit?: (event: Confirmed | Rejected, delivery: DeliveryInfo) => Promise<void>;
  mailer?: (event: Confirmed, delivery: DeliveryInfo) => Promise<void>;
}): { close(): Promise<void> } {
  const consumers: Consumer[] = [];
  if (handlers.audit)
    consumers.push(
      startConsumer({ connection, topology: audit, messages: [OrderConfirmedSchema, OrderRejectedSchema], logger, handle: handlers.audit }),
    );
  if (handlers.mailer)
    consumers.push(startConsumer({ connection, topology: mailer, schema: OrderConfirmedSchema, logger, handle: handlers.mailer }));
  return { close: async () => void (await Promise.all(consumers.map((c) => c.close()))) };
}

async function depth(queue: string): Promise<number> {
  const ch = await raw.createChannel();
  try {
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await ch.close();
  }
}

beforeAll(async () => {
  connection = connectMessaging({
    url: scope.url,
    connectionName: scope.connectionName,
    logger,
    declare: async (channel) => {
      await declareTopology(channel, audit);
      await declareTopology(channel, mailer);
    },
  });
  await connection.waitForConnect(10_000);
  publisher = createPublisher(connection, { exchange, logger });
  raw = await connect(scope.url);
});

afterAll(async () => {
  await publisher?.close();
  await connection?.close();
  await raw?.close();
  await scope.cleanup();
});

describe("subscribers on a topic exchange", () => {
  it("names each subscriber's own dead-letter exchange and DLQ after its queue, and binds it once per routing key", () => {
    expect(audit.exchange).toBe(exchange);
    expect(audit.deadLetterExchange).toBe(`${scope.prefix}test.audit.order-events.dlx`);
    expect(audit.deadLetterQueue).toBe(`${scope.prefix}test.audit.order-events.dlq`);
    expect(audit.bindings.map((b) => [b.exchange, b.exchangeType, b.routingKey])).toEqual([
      [exchange, "topic", "shop.order.v1.OrderConfirmed"],
      [exchange, "topic", "shop.order.v1.OrderRejected"],
    ]);
  });

  it("gives every subscriber its own copy of the events it is bound to, decoded by their AMQP type", async () => {
    const auditSeen: string[] = [];
    const mailerSeen: string[] = [];
    const consumers = subscribe({
      async audit(event, delivery) {
        auditSeen.push(`${isMessage(event, OrderRejectedSchema) ? `rejected:${event.reason}` : "confirmed"}@${delivery.routingKey}`);
      },
      async mailer(event) {
        mailerSeen.push(event.eventId);
      },
    });
    await publisher.publishMessage(OrderConfirmedSchema, confirmed("o1"), {
      messageId: "o1.confirmed",
      routingKey: OrderConfirmedSchema.typeName,
    });
    await publisher.publishMessage(OrderRejectedSchema, rejected("o2"), {
      messageId: "o2.rejected",
      routingKey: OrderRejectedSchema.typeName,
    });
    // Nobody subscribes to OrderPlaced here: the broker has no route for it.
    const unroutable = await publisher
      .publishMessage(OrderPlacedSchema, create(OrderPlacedSchema, { eventId: "o3.placed" }), {
        messageId: "o3.placed",
        routingKey: OrderPlacedSchema.typeName,
      })
      .catch((error: Error) => error);

    await waitFor(() => auditSeen.length === 2 && mailerSeen.length === 1);
    expect(auditSeen.sort()).toEqual(["confirmed@shop.order.v1.OrderConfirmed", "rejected:out of stock@shop.order.v1.OrderRejected"]);
    expect(mailerSeen).toEqual(["o1.confirmed"]);
    expect(unroutable).toMatchObject({ reason: "unroutable" });
    await consumers.close();
  });

  it("dead-letters an event one subscriber cannot process into that subscriber's DLQ only", async () => {
    const mailed: string[] = [];
    const consumers = subscribe({
      async audit() {
        throw new UnprocessableMessageError("audit cannot take it");
      },
      async mailer(event) {
        mailed.push(event.eventId);
      },
    });
    await publisher.publishMessage(OrderConfirmedSchema, confirmed("o4"), {
      messageId: "o4.confirmed",
      routingKey: OrderConfirmedSchema.typeName,
    });
    await waitFor(async () => (await depth(audit.deadLetterQueue)) === 1 && mailed.length === 1);
    expect(await depth(mailer.deadLetterQueue)).toBe(0);
    await consumers.close();
    const ch = await raw.createChannel();
    await ch.purgeQueue(audit.deadLetterQueue);
    await ch.close();
  });

  it("processes an event carrying a field this consumer does not know, and keeps the field", async () => {
    const seen: Array<{ orderId: string | undefined; unknown: number }> = [];
    const consumer = subscribe({
      async mailer(event) {
        seen.push({ orderId: event.order?.orderId, unknown: event.$unknown?.length ?? 0 });
      },
    });
    // A newer producer's OrderConfirmed: field 99 (a string) that this build's schema lacks.
    const known = toBinary(OrderConfirmedSchema, confirmed("o5"));
    const extra = new BinaryWriter().tag(99, WireType.LengthDelimited).string("loyalty points: 12").finish();
    const body = new Uint8Array([...known, ...extra]);
    await publisher.publish({
      routingKey: OrderConfirmedSchema.typeName,
      type: OrderConfirmedSchema.typeName,
      messageId: "o5.confirmed",
      body,
    });

    await waitFor(() => seen.length === 1);
    expect(seen).toEqual([{ orderId: "o5", unknown: 1 }]);
    expect(await depth(mailer.deadLetterQueue)).toBe(0);
    await consumer.close();
  });
});

describe("per-process queues (broadcast)", () => {
  it("gives each process its own exclusive, broker-named queue with every event, gone with its connection", async () => {
    const topology = broadcastTopology({ prefix: scope.prefix, exchange: EXCHANGE, routingKeys: [OrderConfirmedSchema.typeName] });
    const replicas = [0, 1].map((i) =>
      connectMessaging({
        url: scope.url,
        connectionName: `${scope.connectionName}-replica-${i}`,
        logger,
        declare: (ch) => declareExchange(ch, exchange, "topic"),
      }),
    );
    const seen: string[][] = [[], []];
    const consumers = replicas.map((replica, i) =>
      startConsumer({
        connection: replica,
        topology,
        schema: OrderConfirmedSchema,
        logger,
        async handle(event) {
          seen[i]!.push(event.eventId);
        },
      }),
    );
    await waitFor(() => consumers.every((c) => c.isConsuming()));
    await publisher.publishMessage(OrderConfirmedSchema, confirmed("o6"), {
      messageId: "o6.confirmed",
      routingKey: OrderConfirmedSchema.typeName,
    });
    await waitFor(() => seen[0]!.length === 1 && seen[1]!.length === 1);
    expect(seen).toEqual([["o6.confirmed"], ["o6.confirmed"]]);

    await consumers[1]!.close();
    await replicas[1]!.close();
    // Only replica 0's queue remains bound: the publish still routes, to it alone.
    await publisher.publishMessage(OrderConfirmedSchema, confirmed("o7"), {
      messageId: "o7.confirmed",
      routingKey: OrderConfirmedSchema.typeName,
    });
    await waitFor(() => seen[0]!.length === 2);
    expect(seen[1]).toEqual(["o6.confirmed"]);
    await consumers[0]!.close();
    await replicas[0]!.close();
  });

  it("tells the owner of a broadcast queue each time it subscribed again (what was published while it was away is lost)", async () => {
    const topology = broadcastTopology({ prefix: scope.prefix, exchange: EXCHANGE, routingKeys: [OrderConfirmedSchema.typeName] });
    const replica = connectMessaging({
      url: scope.url,
      connectionName: `${scope.connectionName}-resubscribing`,
      logger,
      declare: (ch) => declareExchange(ch, exchange, "topic"),
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    const subscriptions: number[] = [];
    const seen: string[] = [];
    const consumer = startConsumer({
      connection: replica,
      topology,
      schema: OrderConfirmedSchema,
      logger,
      onSubscribed: (n) => subscriptions.push(n),
      async handle(event) {
        seen.push(event.eventId);
      },
    });
    await waitFor(() => consumer.isConsuming() && subscriptions.length === 1);
    expect(await scope.closeConnectionsFromBroker()).toBeGreaterThan(0);
    await waitFor(() => consumer.isConsuming() && subscriptions.length === 2);
    expect(subscriptions).toEqual([1, 2]);
    // Subscribed again, it hears what is published from now on.
    await waitFor(() =>
      publisher
        .publishMessage(OrderConfirmedSchema, confirmed("o9"), { messageId: "o9.confirmed", routingKey: OrderConfirmedSchema.typeName })
        .then(
          () => true,
          () => undefined,
        ),
    );
    await waitFor(() => seen.includes("o9.confirmed"));
    await consumer.close();
    await replica.close();
  });
});

describe("trace of an outbox message", () => {
  let db: Database;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "events-outbox-"));
    writeFileSync(join(dir, "001_outbox.sql"), OUTBOX_TABLE_SQL);
    db = await openDatabase({ migrationsDir: dir }); // PGlite in memory: its start-up is slow on a busy machine
  }, 120_000);
  afterAll(() => db?.close());

  it("makes a PRODUCER span when the row is written and when the relay publishes, and a CONSUMER span on receipt, in one trace", async () => {
    const handled: string[] = [];
    const consumer = startConsumer({
      connection,
      topology: mailer,
      schema: OrderConfirmedSchema,
      logger,
      async handle(event) {
        // The queue also holds the broadcast test's confirmations (this subscriber is bound to them too).
        if (event.eventId === "o8.confirmed") handled.push(trace.getActiveSpan()?.spanContext().traceId ?? "");
      },
    });
    const relay = startOutboxRelay({ db, publisher, logger, intervalMs: 20 });
    const request = trace.getTracer("test").startSpan("POST /orders", { kind: SpanKind.SERVER });
    await context.with(trace.setSpan(context.active(), request), () =>
      db.transaction((tx) =>
        enqueueOutbox(tx, {
          schema: OrderConfirmedSchema,
          message: confirmed("o8"),
          messageId: "o8.confirmed",
          routingKey: OrderConfirmedSchema.typeName,
          destination: exchange,
        }),
      ),
    );
    request.end();
    await waitFor(() => handled.length === 1);
    await relay.stop();
    await consumer.close();

    const traceId = request.spanContext().traceId;
    expect(handled).toEqual([traceId]);
    const finished = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const byName = (name: string) => finished.find((s) => s.name === name);
    const created = byName(`create ${exchange}`);
    const sent = byName(`send ${exchange}`);
    const processed = byName(`process ${mailer.mainQueue}`);
    expect(created?.kind).toBe(SpanKind.PRODUCER);
    expect(created?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(created?.attributes).toMatchObject({
      "messaging.system": "rabbitmq",
      "messaging.operation.type": "create",
      "messaging.destination.name": exchange,
      "messaging.message.id": "o8.confirmed",
    });
    expect(sent?.kind).toBe(SpanKind.PRODUCER);
    expect(sent?.attributes["messaging.operation.type"]).toBe("send");
    expect(processed?.kind).toBe(SpanKind.CONSUMER);
    expect(processed?.attributes["messaging.operation.type"]).toBe("process");
    // Both continue the message's creation context, and link to it.
    for (const span of [sent, processed]) {
      expect(span?.parentSpanContext?.spanId).toBe(created?.spanContext().spanId);
      expect(span?.links.map((link) => link.context.spanId)).toEqual([created?.spanContext().spanId]);
    }
  });
});
