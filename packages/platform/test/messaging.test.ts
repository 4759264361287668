import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { context, trace } from "@opentelemetry/api";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { ChannelModel } from "amqplib";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  commandTopology,
  declareTopology,
  type MessagingConnection,
  PublishError,
  type Publisher,
  registerQueueMetrics,
  startConsumer,
} from "../src/messaging/index.js";
import { rabbitTestScope } from "../src/testing/rabbitmq.js";
import { waitFor } from "../src/testing/wait.js";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-msg");
const topology = commandTopology({
  prefix: scope.prefix,
  exchange: "test.commands",
  queue: "test.commands.work",
  routingKey: SendNotificationCommandSchema.typeName,
  retryDelaysMs: [100, 200],
});
let connection: MessagingConnection;
let publisher: Publisher;
let raw: ChannelModel;

function command(id: string) {
  return create(SendNotificationCommandSchema, {
    commandId: id,
    recipient: "ada@example.com",
    template: "order_confirmed",
    orderId: "ord_1",
  });
}

beforeAll(async () => {
  ({ connection, publisher, raw } = await scope.open(topology, logger, { initialDelayMs: 50, maxDelayMs: 500 }));
});

afterAll(() => scope.cleanup()); // closes what open() made, then deletes the run's queues

describe("topology", () => {
  it("declares exchange, quorum main queue, retry tiers and DLQ, and declaring again changes nothing", async () => {
    const ch = await raw.createChannel();
    await declareTopology(ch, topology);
    for (const q of [topology.mainQueue, topology.deadLetterQueue, ...topology.retryQueues.map((t) => t.name)]) await ch.checkQueue(q);
    await ch.checkExchange(topology.exchange);
    await ch.checkExchange(topology.deadLetterExchange);
    await ch.close();
    expect(topology.mainQueue).toBe(`${scope.prefix}test.commands.work`);
    expect(topology.deadLetterExchange).toBe(`${scope.prefix}test.commands.dlx`);
    expect(topology.deadLetterQueue).toBe(`${scope.prefix}test.commands.work.dlq`);
    expect(topology.retryQueues.map((tier) => tier.name)).toEqual([
      `${scope.prefix}test.commands.work.retry.100ms`,
      `${scope.prefix}test.commands.work.retry.200ms`,
    ]);
    // The broker's own word on the queue type: a classic main queue would lose commands with a node.
    const queues = await scope.queues();
    expect(queues.get(topology.mainQueue)?.type).toBe("quorum");
    expect(queues.get(topology.deadLetterQueue)?.type).toBe("quorum");
  });
});

describe("publisher", () => {
  it("resolves after the broker ack with type, message id, persistence and traceparent on the message", async () => {
    await publisher.publishMessage(SendNotificationCommandSchema, command("cmd-pub-1"), {
      messageId: "cmd-pub-1",
      routingKey: topology.routingKey,
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    });
    const ch = await raw.createChannel();
    const got = await waitFor(async () => (await ch.get(topology.mainQueue, { noAck: true })) || undefined);
    await ch.close();
    expect(got.properties.type).toBe("shop.notification.v1.SendNotificationCommand");
    expect(got.properties.messageId).toBe("cmd-pub-1");
    expect(got.properties.deliveryMode).toBe(2);
    expect(String(got.properties.headers?.traceparent)).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  });

  it("confirms and delivers a burst published in one turn (written to the socket in one pass) in order, byte for byte", async () => {
    // More than the socket's buffer (16 KiB) in one turn: the corked writes of amqplib's muxer pass
    // meet backpressure, and every frame must still go out, once and in order.
    const ch = await raw.createChannel();
    const { queue } = await ch.assertQueue("", { exclusive: true, autoDelete: true });
    const routingKey = `${scope.prefix}burst`;
    await ch.bindQueue(queue, topology.exchange, routingKey);
    const n = 1_500;
    const body = (i: number) => Buffer.from(`${String(i).padStart(6, "0")}:${"x".repeat(200)}`);
    const received: { id: string; body: string }[] = [];
    const all = new Promise<void>((resolve) => {
      void ch.consume(
        queue,
        (msg) => {
          if (!msg) return;
          received.push({ id: String(msg.properties.messageId), body: msg.content.toString() });
          if (received.length === n) resolve();
        },
        { noAck: true },
      );
    });
    await Promise.all(
      Array.from({ length: n }, (_, i) => publisher.publish({ routingKey, body: body(i), type: "test.Burst", messageId: `burst-${i}` })),
    );
    await all;
    await ch.close();
    expect(received.map((r) => r.id)).toEqual(Array.from({ length: n }, (_, i) => `burst-${i}`));
    expect(received.every((r, i) => r.body === body(i).toString())).toBe(true);
  });

  it("writes a burst published in one turn to the broker's socket in a few system calls, not one a message", async () => {
    // connection.ts corks amqplib's socket around each pass of its muxer (amqplib's internals, which
    // an upgrade could change: then it writes as before, and this test says so). Counted as the
    // kernel counts this process's write system calls (this file runs in a process of its own).
    const routingKey = `${scope.prefix}burst-writes`;
    const ch = await raw.createChannel();
    const { queue } = await ch.assertQueue("", { exclusive: true, autoDelete: true });
    await ch.bindQueue(queue, topology.exchange, routingKey);
    await publisher.publish({ routingKey, body: Buffer.from("warm"), type: "test.Burst", messageId: "burst-writes-warm" });
    const writes = () => Number(/^syscw: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))?.[1]);
    const n = 200;
    const before = writes();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        publisher.publish({ routingKey, body: Buffer.from(`m${i}`), type: "test.Burst", messageId: `burst-writes-${i}` }),
      ),
    );
    const used = writes() - before;
    await ch.close();
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(n / 5);
  });

  it("rejects an unroutable message with reason unroutable although the broker acked it", async () => {
    const err = await publisher
      .publishMessage(SendNotificationCommandSchema, command("cmd-lost"), { messageId: "cmd-lost", routingKey: "nobody.listens.here" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).reason).toBe("unroutable");
    // a routable publish right after is still confirmed normally
    await publisher.publishMessage(SendNotificationCommandSchema, command("cmd-ok"), {
      messageId: "cmd-ok",
      routingKey: topology.routingKey,
    });
  });

  it("survives a channel-level PRECONDITION_FAILED: only that channel closes and it is re-opened", async () => {
    const managed = connection.channel();
    const first = await managed.ready(5_000);
    // redeclaring the main queue with other arguments is a channel error (406)
    await first.assertQueue(topology.mainQueue, { durable: false }).catch(() => undefined);
    const second = await waitFor(() => {
      const ch = managed.current();
      return ch && ch !== first ? ch : undefined;
    });
    await second.checkQueue(topology.mainQueue);
    expect(connection.isConnected()).toBe(true);
    await publisher.publishMessage(SendNotificationCommandSchema, command("cmd-after-406"), {
      messageId: "cmd-after-406",
      routingKey: topology.routingKey,
    });
    await managed.close();
  });

  it("reconnects after the broker closes the connection, re-declares the topology and publishes again", async () => {
    const closed = await scope.closeConnectionsFromBroker();
    expect(closed).toBeGreaterThan(0);
    // publishes on the dying channel fail (never falsely confirmed) until the new channel is up
    await waitFor(() =>
      publisher
        .publishMessage(SendNotificationCommandSchema, command("cmd-after-reconnect"), {
          messageId: "cmd-after-reconnect",
          routingKey: topology.routingKey,
        })
        .then(
          () => true,
          () => undefined,
        ),
    );
    expect(connection.isConnected()).toBe(true);
  });
});

describe("trace context", () => {
  it("carries the publisher's W3C trace context to the handler through AMQP headers", async () => {
    new NodeTracerProvider().register(); // AsyncLocalStorage context + W3C propagator, as the platform's tracing sets up
    const tracer = trace.getTracer("messaging-test");
    const seen = new Map<string, string | undefined>();
    const consumer = startConsumer({
      connection,
      topology,
      schema: SendNotificationCommandSchema,
      logger,
      async handle(message) {
        seen.set(message.commandId, trace.getSpanContext(context.active())?.traceId);
      },
    });
    const span = tracer.startSpan("place order");
    await context.with(trace.setSpan(context.active(), span), () =>
      publisher.publishMessage(SendNotificationCommandSchema, command("cmd-traced"), {
        messageId: "cmd-traced",
        routingKey: topology.routingKey,
      }),
    );
    span.end();
    await waitFor(() => seen.has("cmd-traced") || undefined);
    expect(seen.get("cmd-traced")).toBe(span.spanContext().traceId);
    await consumer.close();
  });
});

describe("queue metrics", () => {
  it("reports ready messages per queue, the DLQ and retry tiers included, at scrape time", async () => {
    const registry = new Registry();
    registerQueueMetrics(connection, topology, registry);
    await publisher.publishMessage(SendNotificationCommandSchema, command("cmd-metric"), {
      messageId: "cmd-metric",
      routingKey: topology.routingKey,
    });
    const text = await waitFor(async () => {
      const out = await registry.metrics();
      return out.includes(`amqp_queue_messages{queue="${topology.deadLetterQueue}"} 0`) ? out : undefined;
    });
    expect(text).toMatch(new RegExp(`amqp_queue_messages\\{queue="${topology.mainQueue.replace(/\./g, "\\.")}"\\} [1-9]`));
    expect(text).toContain(`amqp_queue_messages{queue="${topology.retryQueues[0]!.name}"} 0`);
  });
});
