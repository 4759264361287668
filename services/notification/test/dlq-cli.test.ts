import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { OrderConfirmedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { declareTopology } from "@shop/platform/messaging";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { type ChannelModel, connect } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationTopology, orderEventsTopology } from "../src/notification-config.js";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../dist/dlq-cli.js", import.meta.url));
const scope = rabbitTestScope("test-dlqcli");
const topology = notificationTopology(scope.prefix);
let conn: ChannelModel;

async function dlq(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { ...process.env, AMQP_URL: scope.url, AMQP_PREFIX: scope.prefix, LOG_LEVEL: "error" },
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

beforeAll(async () => {
  conn = await connect(scope.url);
  const ch = await conn.createConfirmChannel();
  await declareTopology(ch, topology);
  const body = Buffer.from(
    toBinary(
      SendNotificationCommandSchema,
      create(SendNotificationCommandSchema, {
        commandId: "cmd-dead",
        channel: NotificationChannel.EMAIL,
        recipient: "ada@example.com",
        template: "order_confirmed",
      }),
    ),
  );
  ch.publish(topology.deadLetterExchange, "", body, {
    type: SendNotificationCommandSchema.typeName,
    messageId: "cmd-dead",
    headers: { "x-attempts": 4, "x-error": "smtp 451 try later", "x-failed-at": "2026-01-01T00:00:00.000Z" },
  });
  ch.publish(topology.deadLetterExchange, "", Buffer.from("garbage"), {
    type: "nope.v1.Nope",
    messageId: "junk",
    headers: { "x-attempts": 1, "x-error": "unknown message type" },
  });
  await ch.waitForConfirms();
  await ch.close();
});

/** Puts commands straight into the dead-letter queue, as the consumer does after their last attempt. */
async function deadLetter(...ids: string[]): Promise<void> {
  const ch = await conn.createConfirmChannel();
  for (const id of ids) {
    const body = toBinary(
      SendNotificationCommandSchema,
      create(SendNotificationCommandSchema, {
        commandId: id,
        channel: NotificationChannel.EMAIL,
        recipient: "ada@example.com",
        template: "order_confirmed",
      }),
    );
    ch.publish(topology.deadLetterExchange, "", Buffer.from(body), {
      type: SendNotificationCommandSchema.typeName,
      messageId: id,
      headers: { "x-attempts": 4, "x-error": "smtp 451 try later" },
    });
  }
  await ch.waitForConfirms();
  await ch.close();
}

afterAll(async () => {
  await conn?.close();
  await scope.cleanup();
});

describe("dlq CLI", () => {
  it("lists dead letters with command id, attempts and error", async () => {
    const { stdout, code } = await dlq("list");
    expect(code).toBe(0);
    expect(stdout).toContain("2 message(s)");
    expect(stdout).toMatch(/#1\s+cmd-dead\s+4\s+2026-01-01T00:00:00.000Z\s+smtp 451 try later/);
    expect(stdout).toMatch(/#2\s+junk/);
  });

  it("shows one message with its decoded command", async () => {
    const { stdout } = await dlq("show", "cmd-dead");
    expect(stdout).toContain('"recipient": "ada@example.com"');
    expect(stdout).toContain("error:      smtp 451 try later");
  });

  it("replays one message to the main queue with attempts reset, leaving the others", async () => {
    const { stdout, code } = await dlq("replay", "cmd-dead");
    expect(code).toBe(0);
    expect(stdout).toContain("replayed 1 message(s)");
    const ch = await conn.createChannel();
    const msg = await ch.get(topology.mainQueue, { noAck: true });
    if (!msg) throw new Error("the replayed message is not in the main queue");
    expect(msg.properties.messageId).toBe("cmd-dead");
    expect(msg.properties.headers?.["x-attempts"]).toBe(0);
    await ch.close();
    expect((await dlq("list")).stdout).toContain("1 message(s)");
  });

  it("replays every message with --all, each to the main queue with attempts reset, leaving the DLQ empty", async () => {
    await deadLetter("cmd-late-1", "cmd-late-2");
    expect((await dlq("list")).stdout).toContain("3 message(s)");

    const { stdout, code } = await dlq("replay", "--all");

    expect(code).toBe(0);
    expect(stdout).toContain("replayed 3 message(s)");
    expect((await dlq("list")).stdout).toContain("0 message(s)");
    const ch = await conn.createChannel();
    const replayed: Array<{ id: unknown; attempts: unknown }> = [];
    for (let msg = await ch.get(topology.mainQueue, { noAck: true }); msg; msg = await ch.get(topology.mainQueue, { noAck: true })) {
      replayed.push({ id: msg.properties.messageId, attempts: msg.properties.headers?.["x-attempts"] });
    }
    await ch.close();
    expect(replayed.map((m) => m.id).sort()).toEqual(["cmd-late-1", "cmd-late-2", "junk"]);
    expect(replayed.every((m) => m.attempts === 0)).toBe(true);
  });

  it("purges the dead-letter queue and rejects an unknown command with usage", async () => {
    await deadLetter("cmd-purged");
    expect((await dlq("purge")).stdout).toContain("purged 1 message(s)");
    expect((await dlq("list")).stdout).toContain("0 message(s)");
    const bad = await dlq("frobnicate");
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("usage: npm run dlq");
  });

  it("works on any queue's DLQ with --queue: lists, shows the decoded event and replays it to that queue", async () => {
    const events = orderEventsTopology(scope.prefix);
    const ch = await conn.createConfirmChannel();
    await declareTopology(ch, events);
    const event = create(OrderConfirmedSchema, { eventId: "ord_q.confirmed", order: { orderId: "ord_q", email: "lin@example.com" } });
    ch.publish(events.deadLetterExchange, "", Buffer.from(toBinary(OrderConfirmedSchema, event)), {
      type: OrderConfirmedSchema.typeName,
      messageId: event.eventId,
      headers: { "x-attempts": 4, "x-error": "smtp down" },
    });
    await ch.waitForConfirms();
    await ch.close();

    const queue = ["--queue", "shop.notifications.order-events"];
    const listed = await dlq(...queue, "list");
    expect(listed.stdout).toContain(`${events.deadLetterQueue}: 1 message(s)`);
    expect(listed.stdout).toMatch(/#1\s+ord_q\.confirmed\s+4/);
    expect((await dlq("list")).stdout).toContain("0 message(s)"); // the command queue's DLQ is another
    expect((await dlq(...queue, "show", "#1")).stdout).toContain('"email": "lin@example.com"');
    expect((await dlq(...queue, "replay", "ord_q.confirmed")).stdout).toContain(`replayed 1 message(s) to ${events.mainQueue}`);
    const read = await conn.createChannel();
    const msg = await read.get(events.mainQueue, { noAck: true });
    expect(msg ? msg.properties.type : undefined).toBe(OrderConfirmedSchema.typeName);
    await read.close();
  });
});
