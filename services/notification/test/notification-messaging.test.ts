import { create } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import {
  type SendNotificationCommand,
  SendNotificationCommandSchema,
} from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { Database } from "@shop/platform/database";
import {
  type Consumer,
  deadLetterQueue,
  enqueueOutbox,
  type MessagingConnection,
  type Publisher,
  startOutboxRelay,
} from "@shop/platform/messaging";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { connect } from "amqplib";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChannelProvider, OutgoingNotification } from "../src/channel-provider.js";
import { startNotificationConsumer } from "../src/consumer.js";
import { notificationTopology } from "../src/notification-config.js";
import { createNotificationStore, type NotificationStore } from "../src/store.js";
import { notificationTestDatabase, outboxTestDatabase, waitFor } from "./harness.js";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-notify");
const topology = notificationTopology(scope.prefix, [100, 200]); // 3 attempts in all

/** A provider scripted per command id: how many times to fail before succeeding (Infinity: always). */
class ScriptedProvider implements ChannelProvider {
  readonly name = "scripted";
  readonly failuresLeft = new Map<string, number>();
  readonly sent: OutgoingNotification[] = [];
  readonly calls = new Map<string, number[]>();
  async send(n: OutgoingNotification): Promise<void> {
    this.calls.set(n.commandId, [...(this.calls.get(n.commandId) ?? []), Date.now()]);
    const left = this.failuresLeft.get(n.commandId) ?? 0;
    if (left > 0) {
      this.failuresLeft.set(n.commandId, left - 1);
      throw new Error(`provider down for ${n.commandId}`);
    }
    this.sent.push(n);
  }
  sentFor(commandId: string): number {
    return this.sent.filter((n) => n.commandId === commandId).length;
  }
}

const provider = new ScriptedProvider();
let connection: MessagingConnection;
let publisher: Publisher;
let consumer: Consumer;
let db: Database;
let store: NotificationStore;

function command(id: string, init: Partial<SendNotificationCommand> = {}): SendNotificationCommand {
  return create(SendNotificationCommandSchema, {
    commandId: id,
    channel: NotificationChannel.EMAIL,
    recipient: `${id}@example.com`,
    template: "order_confirmed",
    parameters: { order_id: `ord_${id}`, total: "19.99 EUR" },
    orderId: `ord_${id}`,
    userId: "user-1",
    ...init,
  });
}

const publish = (cmd: SendNotificationCommand) =>
  publisher.publishMessage(SendNotificationCommandSchema, cmd, { messageId: cmd.commandId, routingKey: topology.routingKey });

async function deliveriesFor(commandId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from deliveries where command_id = $1", [commandId]);
  return rows[0]!.n;
}

beforeAll(async () => {
  db = await notificationTestDatabase();
  store = createNotificationStore(db);
  ({ connection, publisher } = await scope.connectTo(topology, logger, { initialDelayMs: 50, maxDelayMs: 1_000 }));
  consumer = startNotificationConsumer({ connection, topology, store, provider, logger, prefetch: 32 });
  await waitFor(() => consumer.isConsuming());
});

afterAll(async () => {
  await consumer?.close();
  await publisher?.close();
  await connection?.close();
  await db?.close();
  await scope.cleanup();
});

describe("notification commands over RabbitMQ", () => {
  it("records exactly one delivery with the right template and recipient for a confirmed order's command", async () => {
    await publish(command("c-confirmed"));
    const delivery = await waitFor(() => store.deliveryForCommand("c-confirmed"));
    expect(delivery.template).toBe("order_confirmed");
    expect(delivery.recipient).toBe("c-confirmed@example.com");
    expect(delivery.channel).toBe("email");
    expect(delivery.body).toContain("ord_c-confirmed");
    expect(delivery.body).toContain("19.99 EUR");
    expect(provider.sentFor("c-confirmed")).toBe(1);
  });

  it("delivers a command published twice only once", async () => {
    await Promise.all([publish(command("c-twice")), publish(command("c-twice"))]);
    await waitFor(() => store.deliveryForCommand("c-twice"));
    await publish(command("c-twice")); // and once more after it was recorded
    await scope.drained(); // every copy consumed and acked: a late duplicate would be recorded by now
    expect(await deliveriesFor("c-twice")).toBe(1);
    expect(provider.sentFor("c-twice")).toBe(1);
  });

  it("delivers after a provider fails twice, retrying with growing delays", async () => {
    provider.failuresLeft.set("c-flaky", 2);
    await publish(command("c-flaky"));
    await waitFor(() => store.deliveryForCommand("c-flaky"));
    const calls = provider.calls.get("c-flaky")!;
    expect(calls).toHaveLength(3);
    const [first, second, third] = calls as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(90); // tier 1: 100 ms
    expect(third - second).toBeGreaterThanOrEqual(190); // tier 2: 200 ms
    expect(third - second).toBeGreaterThan(second - first);
    expect(provider.sentFor("c-flaky")).toBe(1);
  });

  it("dead-letters a command whose provider always fails after 3 attempts, and delivers it when replayed after the fix", async () => {
    provider.failuresLeft.set("c-broken", Number.POSITIVE_INFINITY);
    await publish(command("c-broken"));
    const dlq = deadLetterQueue(connection, topology);
    const letter = await waitFor(async () => (await dlq.list()).find((l) => l.messageId === "c-broken"));
    expect(letter.attempts).toBe(3);
    expect(letter.error).toContain("provider down for c-broken");
    expect(letter.failedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(provider.calls.get("c-broken")).toHaveLength(3);
    expect(await deliveriesFor("c-broken")).toBe(0);

    provider.failuresLeft.delete("c-broken"); // the fix
    expect(await dlq.replay("c-broken")).toBe(1);
    await waitFor(() => store.deliveryForCommand("c-broken"));
    expect(provider.sentFor("c-broken")).toBe(1);
    expect((await dlq.list()).some((l) => l.messageId === "c-broken")).toBe(false);
  });

  it("dead-letters a garbage body at once with the error in headers, and keeps consuming", async () => {
    await publisher.publish({
      routingKey: topology.routingKey,
      type: SendNotificationCommandSchema.typeName,
      messageId: "c-garbage",
      body: new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x08]),
    });
    await publisher.publish({
      routingKey: topology.routingKey,
      type: "shop.unknown.v1.Nope",
      messageId: "c-unknown-type",
      body: new Uint8Array([1]),
    });
    await publish(command("c-after-garbage"));
    await waitFor(() => store.deliveryForCommand("c-after-garbage"));
    const dlq = deadLetterQueue(connection, topology);
    const letters = await waitFor(async () => {
      const all = await dlq.list();
      const garbage = all.find((l) => l.messageId === "c-garbage");
      const unknown = all.find((l) => l.messageId === "c-unknown-type");
      return garbage && unknown ? { garbage, unknown } : undefined;
    });
    expect(letters.garbage.attempts).toBe(1);
    expect(letters.garbage.error).toBeTruthy();
    expect(letters.unknown.error).toContain("unknown message type");
    expect(provider.calls.has("c-garbage")).toBe(false);
  });

  it("dead-letters an unknown template at once without walking the retry tiers", async () => {
    await publish(command("c-bad-template", { template: "no_such_template" }));
    const dlq = deadLetterQueue(connection, topology);
    const letter = await waitFor(async () => (await dlq.list()).find((l) => l.messageId === "c-bad-template"));
    expect(letter.attempts).toBe(1);
    expect(letter.error).toContain('unknown template "no_such_template"');
  });

  it("in commands handled together, a provider failure retries that command alone; the others are delivered once", async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `c-together-${i}`);
    provider.failuresLeft.set("c-together-5", 1);
    await Promise.all(ids.map((id) => publish(command(id))));
    for (const id of ids) await waitFor(() => store.deliveryForCommand(id));
    await scope.drained(); // every copy consumed and acked, the retried one included
    for (const id of ids) {
      expect(await deliveriesFor(id)).toBe(1);
      expect(provider.sentFor(id)).toBe(1);
    }
    expect(provider.calls.get("c-together-5")).toHaveLength(2);
    expect(ids.filter((id) => id !== "c-together-5").every((id) => provider.calls.get(id)?.length === 1)).toBe(true);
  });

  it("in commands handled together, one whose row the database refuses fails alone: the others are delivered, it is dead-lettered", async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `c-refused-${i}`);
    // PostgreSQL text cannot hold NUL: the claim statement of any batch holding this command fails.
    const bad = command("c-refused-7", { recipient: "nul\u0000@example.com" });
    await Promise.all(ids.map((id) => publish(id === "c-refused-7" ? bad : command(id))));
    const dlq = deadLetterQueue(connection, topology);
    const letter = await waitFor(async () => (await dlq.list()).find((l) => l.messageId === "c-refused-7"));
    expect(letter.attempts).toBe(3);
    await scope.drained();
    for (const id of ids.filter((id) => id !== "c-refused-7")) {
      expect(await deliveriesFor(id)).toBe(1);
      expect(provider.sentFor(id)).toBe(1);
    }
    expect(await deliveriesFor("c-refused-7")).toBe(0);
    expect(provider.calls.has("c-refused-7")).toBe(false);
  });

  it("re-subscribes after the broker cancels its consumer (its queue deleted) and delivers what comes next", async () => {
    const raw = await connect(scope.url);
    try {
      const ch = await raw.createChannel();
      await ch.deleteQueue(topology.mainQueue); // the broker sends basic.cancel to every consumer of it
      await ch.close();
    } finally {
      await raw.close();
    }
    // Until the consumer has declared its queue again, a command has nowhere to go: the publisher
    // says so (unroutable) and the caller tries again, as the outbox relay does.
    await waitFor(async () => {
      const published = await publish(command("c-after-cancel")).then(
        () => true,
        () => undefined,
      );
      return published && consumer.isConsuming() ? true : undefined;
    });
    const delivery = await waitFor(() => store.deliveryForCommand("c-after-cancel"));
    expect(delivery.recipient).toBe("c-after-cancel@example.com");
    expect(provider.sentFor("c-after-cancel")).toBe(1);
  });

  it("delivers each of 500 outbox commands exactly once although the broker drops the connections mid-way", async () => {
    const orders = await outboxTestDatabase();
    const relay = startOutboxRelay({ db: orders, publisher, logger, intervalMs: 10, batchSize: 50, registry: new Registry() });
    const ids = Array.from({ length: 500 }, (_, i) => `c-bulk-${i}`);
    let placed = 0;
    const placing = (async () => {
      // ~4 s of orders, so the connections drop while orders are still being placed and published
      for (const id of ids) {
        await orders.transaction((tx) =>
          enqueueOutbox(tx, {
            schema: SendNotificationCommandSchema,
            message: command(id),
            messageId: id,
            routingKey: topology.routingKey,
          }),
        );
        placed += 1;
        await new Promise((r) => setTimeout(r, 8));
      }
    })();
    await waitFor(async () => {
      const { rows } = await db.query<{ n: number }>("select count(*)::int as n from deliveries where command_id like 'c-bulk-%'");
      return rows[0]!.n >= 20 || undefined;
    });
    expect(await scope.closeConnectionsFromBroker()).toBeGreaterThan(0);
    expect(placed).toBeLessThan(500); // the drop really happened mid-way
    await placing;
    await waitFor(async () => {
      const { rows } = await db.query<{ n: number }>("select count(*)::int as n from deliveries where command_id like 'c-bulk-%'");
      return rows[0]!.n === 500 || undefined;
    }, 60_000);
    await waitFor(async () => ((await relay.backlog()).count === 0 ? true : undefined));
    await relay.stop();
    await scope.drained(); // every redelivered copy consumed and acked
    const { rows } = await db.query<{ n: number; distinct_ids: number }>(
      "select count(*)::int as n, count(distinct command_id)::int as distinct_ids from deliveries where command_id like 'c-bulk-%'",
    );
    expect(rows[0]).toEqual({ n: 500, distinct_ids: 500 });
    const sends = new Map<string, number>();
    for (const n of provider.sent) if (n.commandId.startsWith("c-bulk-")) sends.set(n.commandId, (sends.get(n.commandId) ?? 0) + 1);
    expect(sends.size).toBe(500);
    expect([...sends.values()].every((count) => count === 1)).toBe(true);
    await orders.close();
  }, 90_000);
});
