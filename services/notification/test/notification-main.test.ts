import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { OrderConfirmedSchema, OrderRejectedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { createClient, errorInfo, type GrpcClient } from "@shop/platform";
import { createPublisher, type MessagingConnection, type Publisher } from "@shop/platform/messaging";
import { callingAs } from "@shop/platform/testing/certificates";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationTopology, orderEventsTopology } from "../src/notification-config.js";
import { waitFor } from "./harness.js";

const logger = pino({ level: "silent" });
const scope = rabbitTestScope("test-ntfmain");
const topology = notificationTopology(scope.prefix, [100]);

let child: ChildProcess;
let ports: { port: number; adminPort: number };
let client: GrpcClient<typeof NotificationService>;
let connection: MessagingConnection;
let publisher: Publisher;

beforeAll(async () => {
  child = spawn(process.execPath, [fileURLToPath(new URL("../dist/main.js", import.meta.url))], {
    env: {
      ...process.env,
      NOTIFICATION_PORT: "0",
      NOTIFICATION_ADMIN_PORT: "0",
      NOTIFICATION_DATA_DIR: "",
      AMQP_URL: scope.url,
      AMQP_PREFIX: scope.prefix,
      NOTIFICATION_RETRY_DELAYS_MS: "100",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  ports = await new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      for (const line of buffered.split("\n")) {
        if (line.includes('"event":"listening"')) resolve(JSON.parse(line) as { port: number; adminPort: number });
      }
    });
    child.once("exit", (code) => reject(new Error(`notification exited with ${code}`)));
  });
  client = createClient(NotificationService, `127.0.0.1:${ports.port}`, callingAs("gateway", "notification"));
  ({ connection, publisher } = await scope.connectTo(topology, logger));
}, 60_000);

afterAll(async () => {
  client?.close();
  await publisher?.close();
  await connection?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }

  await scope.cleanup();
});

/** How many deliveries of `queue` the service has acked, from its /metrics. */
async function acked(queue: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${ports.adminPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`amqp_messages_handled_total{queue="${queue}",outcome="ack"}`));
  return Number(line?.split(" ").at(-1) ?? 0);
}

describe("notification service process", () => {
  it("is ready once RabbitMQ and its database are up", async () => {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.adminPort}/readyz`)).status === 200 || undefined);
  });

  it("shows a published command in the caller's ListNotifications, and hides it from others", async () => {
    const command = create(SendNotificationCommandSchema, {
      commandId: "cmd-e2e-1",
      channel: NotificationChannel.EMAIL,
      recipient: "grace@example.com",
      template: "order_confirmed",
      parameters: { order_id: "ord_e2e", total: "42.00 EUR" },
      orderId: "ord_e2e",
      userId: "grace",
    });
    await publisher.publishMessage(SendNotificationCommandSchema, command, {
      messageId: command.commandId,
      routingKey: topology.routingKey,
    });
    const listed = await waitFor(async () => {
      const res = await client.listNotifications({ orderId: "ord_e2e" }, { headers: { "x-user-id": "grace" } });
      return res.notifications.length > 0 ? res : undefined;
    });
    expect(listed.notifications[0]!.template).toBe("order_confirmed");
    expect(listed.notifications[0]!.body).toContain("42.00 EUR");

    const err = await client
      .getNotification({ notificationId: listed.notifications[0]!.notificationId }, { headers: { "x-user-id": "mallory" } })
      .catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(err)?.reason).toBe("NOTIFICATION_NOT_FOUND");
  });

  it("turns order events from the events exchange into one notification per final status per order, however often delivered", async () => {
    const events = createPublisher(connection, { exchange: `${scope.prefix}shop.events`, logger });
    const order = (status: OrderStatus) => ({
      orderId: "ord_ev_1",
      userId: "hedy",
      email: "hedy@example.com",
      status,
      total: { currencyCode: "EUR", amountMinor: 1250n },
      lines: [{ sku: "SKU-1", quantity: 3 }],
    });
    const confirmed = create(OrderConfirmedSchema, { eventId: "ord_ev_1.confirmed", order: order(OrderStatus.CONFIRMED) });
    const rejected = create(OrderRejectedSchema, {
      eventId: "ord_ev_2.rejected",
      order: { ...order(OrderStatus.REJECTED), orderId: "ord_ev_2" },
      reason: "payment declined",
    });
    const publish = () =>
      Promise.all([
        events.publishMessage(OrderConfirmedSchema, confirmed, { messageId: confirmed.eventId, routingKey: OrderConfirmedSchema.typeName }),
        events.publishMessage(OrderRejectedSchema, rejected, { messageId: rejected.eventId, routingKey: OrderRejectedSchema.typeName }),
      ]);
    await waitFor(() =>
      publish().then(
        () => true,
        () => undefined,
      ),
    ); // routable once the service has bound its queue
    await publish(); // the same events again, as a relay that lost its confirm re-publishes them

    const hedy = { headers: { "x-user-id": "hedy" } };
    const listed = await waitFor(async () => {
      const res = await client.listNotifications({}, hedy);
      return res.notifications.length >= 2 ? res : undefined;
    });
    // All four deliveries settled (the duplicates acked as such) before counting again.
    await waitFor(async () => (await acked(orderEventsTopology(scope.prefix).mainQueue)) >= 4 || undefined);
    const again = await client.listNotifications({}, hedy);
    expect(again.notifications).toHaveLength(2);
    const byOrder = Object.fromEntries(listed.notifications.map((n) => [n.orderId, n]));
    expect(byOrder.ord_ev_1).toMatchObject({ template: "order_confirmed", recipient: "hedy@example.com" });
    expect(byOrder.ord_ev_1?.body).toContain("12.50 EUR");
    expect(byOrder.ord_ev_2).toMatchObject({ template: "order_rejected" });
    expect(byOrder.ord_ev_2?.body).toContain("payment declined");
    await events.close();
  });

  it("exposes queue depths and handled counts on /metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${ports.adminPort}/metrics`)).text();
    expect(text).toContain(`amqp_queue_messages{queue="${topology.deadLetterQueue}"}`);
    expect(text).toContain(`amqp_queue_messages{queue="${orderEventsTopology(scope.prefix).deadLetterQueue}"}`);
    expect(text).toMatch(/amqp_messages_handled_total\{queue="[^"]+",outcome="ack"\} [1-9]/);
  });
});
