#!/usr/bin/env node
// The dead-letter queue tool: `npm run dlq -- [--queue <queue>] list | show <id> | replay [<id>|--all] | purge`.
// <id> is a message id (command or event id: the AMQP message-id) or #<position> as shown by `list`.
import { type DescMessage, fromBinary, toJsonString } from "@bufbuild/protobuf";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderPlacedSchema,
  OrderRejectedSchema,
} from "@shop/contracts/shop/order/v1/order_events_pb";
import { createLogger } from "@shop/platform";
import { connectMessaging, type DeadLetter, deadLetterQueue, declareTopology, type Topology } from "@shop/platform/messaging";
import { pino } from "pino";
import { loadNotificationConfig } from "./notification-config.js";

const USAGE = `usage: npm run dlq -- [--queue <queue>] <command>
  list                  messages in the dead-letter queue, oldest first
  show <id>             one message in full (id: message id or #position)
  replay <id> | --all   back to the main queue with the attempt count reset
  purge                 delete every message in the dead-letter queue
--queue <queue>         whose DLQ (<queue>.dlq): any subscriber's or command queue, named without AMQP_PREFIX
                        (default shop.notifications.commands; e.g. shop.notifications.order-events)
environment: AMQP_URL, AMQP_PREFIX`;

/** Message types the tool can show decoded, by their AMQP type. */
const KNOWN_TYPES = new Map<string, DescMessage>(
  [SendNotificationCommandSchema, OrderPlacedSchema, OrderConfirmedSchema, OrderRejectedSchema, OrderCancelledSchema].map((schema) => [
    schema.typeName,
    schema,
  ]),
);

const args = process.argv.slice(2);
const queueAt = args.indexOf("--queue");
const queueName = queueAt >= 0 ? args.splice(queueAt, 2)[1] : undefined;
const [command, arg] = args;
const config = loadNotificationConfig(process.env);
const { messaging } = config;
// This service's own queues are declared as they are (so the tool works before the service ran);
// any other queue is only read: its owner declares it.
const own = [config.topology, config.eventsTopology];
const topology: Topology =
  queueName === undefined
    ? config.topology
    : (own.find((t) => t.mainQueue === `${messaging.prefix}${queueName}`) ?? {
        ...config.topology,
        mainQueue: `${messaging.prefix}${queueName}`,
        deadLetterQueue: `${messaging.prefix}${queueName}.dlq`,
        bindings: [],
        retryQueues: [],
      });
const declared = own.includes(topology);
// Logs go to standard error: standard output is the tool's answer.
const logger = createLogger("dlq", process.env.LOG_LEVEL ?? "warn", pino.destination(2));
const connection = connectMessaging({
  url: messaging.url,
  connectionName: `dlq-cli@${process.pid}`,
  logger,
  ...(declared ? { declare: (channel) => declareTopology(channel, topology) } : {}),
  reconnect: { maxDelayMs: 1_000 },
});
const dlq = deadLetterQueue(connection, topology);

function decode(letter: DeadLetter): string {
  const schema = letter.type === undefined ? undefined : KNOWN_TYPES.get(letter.type);
  if (!schema) return `(undecodable: type ${letter.type ?? "none"}) ${letter.body.subarray(0, 200).toString("hex")}`;
  try {
    return toJsonString(schema, fromBinary(schema, letter.body), { prettySpaces: 2 });
  } catch {
    return `(undecodable body) ${letter.body.subarray(0, 200).toString("hex")}`;
  }
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i] ?? 0).slice(0, Math.max(widths[i] ?? 0, 1))).join("  ");
}

async function main(): Promise<number> {
  try {
    await connection.waitForConnect(10_000);
  } catch {
    console.error(`cannot reach RabbitMQ at ${messaging.url.replace(/\/\/[^@]*@/, "//***@")}`);
    return 2;
  }
  switch (command) {
    case "list": {
      const letters = await dlq.list();
      console.log(`${topology.deadLetterQueue}: ${letters.length} message(s)`);
      if (letters.length === 0) return 0;
      const widths = [4, 28, 8, 24, 60];
      console.log(row(["#", "MESSAGE ID", "ATTEMPTS", "FAILED AT", "ERROR"], widths));
      for (const l of letters)
        console.log(
          row([`#${l.position}`, l.messageId ?? "-", String(l.attempts), l.failedAt ?? "-", (l.error ?? "-").replace(/\s+/g, " ")], widths),
        );
      return 0;
    }
    case "show": {
      if (!arg) break;
      const letter = await dlq.show(arg);
      if (!letter) {
        console.error(`no message "${arg}" in ${topology.deadLetterQueue}`);
        return 1;
      }
      const fields = [
        ["position", `#${letter.position}`],
        ["message id", letter.messageId ?? "-"],
        ["type", letter.type ?? "-"],
        ["attempts", String(letter.attempts)],
        ["failed at", letter.failedAt ?? "-"],
        ["error", letter.error ?? "-"],
      ];
      console.log(fields.map(([name, value]) => `${`${name}:`.padEnd(12)}${value}`).join("\n"));
      const headers = Object.fromEntries(Object.entries(letter.headers).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("utf8") : v]));
      console.log(`headers:    ${JSON.stringify(headers)}\nbody:\n${decode(letter)}`);
      return 0;
    }
    case "replay": {
      if (!arg) break;
      const n = await dlq.replay(arg === "--all" ? "all" : arg);
      console.log(`replayed ${n} message(s) to ${topology.mainQueue}`);
      return n === 0 && arg !== "--all" ? 1 : 0;
    }
    case "purge": {
      const n = await dlq.purge();
      console.log(`purged ${n} message(s) from ${topology.deadLetterQueue}`);
      return 0;
    }
  }
  console.error(USAGE);
  return 64;
}

const code = await main().catch((err: Error) => {
  console.error(`dlq: ${err.message}`);
  return 1;
});
await connection.close().catch(() => undefined);
process.exit(code);
