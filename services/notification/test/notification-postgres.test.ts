import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { type Database, openDatabase } from "@shop/platform/database";
import {
  type Consumer,
  enqueueOutbox,
  type MessagingConnection,
  OUTBOX_TABLE_SQL,
  type Publisher,
  startOutboxRelay,
} from "@shop/platform/messaging";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChannelProvider, OutgoingNotification } from "../src/channel-provider.js";
import { startNotificationConsumer } from "../src/consumer.js";
import { notificationTopology } from "../src/notification-config.js";
import { createNotificationStore, type NotificationStore } from "../src/store.js";
import { waitFor } from "./harness.js";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const scope = rabbitTestScope("test-ntfpg");
const topology = notificationTopology(scope.prefix, [100]);
const sent: OutgoingNotification[] = [];
const provider: ChannelProvider = {
  name: "recording",
  async send(n) {
    await new Promise((r) => setTimeout(r, 5)); // a send takes a while: duplicates overlap in flight
    sent.push(n);
  },
};
let testDb: TestDatabase;
let db: Database;
let store: NotificationStore;
let connection: MessagingConnection;
let publisher: Publisher;
let consumer: Consumer;

beforeAll(async () => {
  testDb = await createTestDatabase("notification");
  db = await openDatabase({ url: testDb.url, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)) });
  store = createNotificationStore(db);
  ({ connection, publisher } = await scope.connectTo(topology, logger));
  consumer = startNotificationConsumer({ connection, topology, store, provider, logger, prefetch: 32 });
});

afterAll(async () => {
  await consumer?.close();
  await publisher?.close();
  await connection?.close();
  await db?.close();
  await testDb?.drop();
  await scope.cleanup();
});

describe("notification consumer on PostgreSQL", () => {
  it("sends a command once even when 20 copies are in flight concurrently (the unique key serialises them)", async () => {
    const cmd = create(SendNotificationCommandSchema, {
      commandId: "pg-dup",
      channel: NotificationChannel.SMS,
      recipient: "+15550100",
      template: "order_cancelled",
      parameters: { order_id: "ord_pg" },
      orderId: "ord_pg",
      userId: "u1",
    });
    const others = Array.from({ length: 30 }, (_, i) => create(SendNotificationCommandSchema, { ...cmd, commandId: `pg-${i}` }));
    await Promise.all([
      ...Array.from({ length: 20 }, () =>
        publisher.publishMessage(SendNotificationCommandSchema, cmd, { messageId: cmd.commandId, routingKey: topology.routingKey }),
      ),
      ...others.map((o) =>
        publisher.publishMessage(SendNotificationCommandSchema, o, { messageId: o.commandId, routingKey: topology.routingKey }),
      ),
    ]);
    await waitFor(async () => {
      const { rows } = await db.query<{ n: string | number }>("select count(*) as n from deliveries");
      return Number(rows[0]!.n) === 31 || undefined;
    });
    await scope.drained(); // all 50 copies consumed and acked: a late duplicate would be in `sent`
    expect(sent.filter((n) => n.commandId === "pg-dup")).toHaveLength(1);
    expect(sent).toHaveLength(31);
    const deliveries = await store.listDeliveries({ userId: "u1", orderId: "ord_pg", limit: 50 });
    expect(deliveries).toHaveLength(31);
    expect(deliveries[0]!.channel).toBe("sms");
    expect(deliveries[0]!.parameters).toEqual({ order_id: "ord_pg" });
  });

  it("relays outbox rows from PostgreSQL and marks them published, keeping an unroutable one pending", async () => {
    for (const statement of OUTBOX_TABLE_SQL.split(";").filter((sql) => sql.trim())) await db.query(statement);
    for (let i = 0; i < 10; i += 1) {
      const cmd = create(SendNotificationCommandSchema, {
        commandId: `pg-outbox-${i}`,
        channel: NotificationChannel.EMAIL,
        recipient: "x@example.com",
        template: "order_confirmed",
      });
      await db.transaction((tx) =>
        enqueueOutbox(tx, {
          schema: SendNotificationCommandSchema,
          message: cmd,
          messageId: cmd.commandId,
          routingKey: i === 3 ? "no.route" : topology.routingKey,
        }),
      );
    }
    const registry = new Registry();
    const relay = startOutboxRelay({ db, publisher, logger, intervalMs: 20, registry });
    await waitFor(async () => ((await store.deliveryForCommand("pg-outbox-9")) && (await relay.backlog()).count === 1 ? true : undefined));
    await relay.stop();
    const { rows } = await db.query<{ message_id: string; last_error: string | null }>(
      "select message_id, last_error from outbox where published_at is null",
    );
    expect(rows.map((r) => r.message_id)).toEqual(["pg-outbox-3"]);
    expect(rows[0]!.last_error).toMatch(/^unroutable/);
    expect(await registry.getSingleMetricAsString("outbox_backlog")).toMatch(/outbox_backlog 1$/m);
  });
});
