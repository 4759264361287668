import { createRegistry, fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import { file_shop_notification_v1_send_notification_command } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { file_shop_order_v1_order_events } from "@shop/contracts/shop/order/v1/order_events_pb";
import type { Logger } from "@shop/platform";
import type { DeadLetter, MessagingConnection } from "@shop/platform/messaging";
import { commandTopology } from "@shop/platform/messaging/topology";

/**
 * The message types that travel on the mesh's queues, for showing a dead letter decoded (by its
 * AMQP `type`, the full protobuf name). A new message file is added here.
 */
const MESSAGE_TYPES = createRegistry(file_shop_notification_v1_send_notification_command, file_shop_order_v1_order_events);

/** A dead letter as the console's API answers it. */
export interface DeadLetterView {
  position: number;
  messageId: string | undefined;
  type: string | undefined;
  attempts: number;
  error: string | undefined;
  failedAt: string | undefined;
}

/** One dead letter in full: headers, and the body decoded when its type is known. */
export interface DeadLetterDetail extends DeadLetterView {
  headers: Record<string, unknown>;
  /** The body as protobuf JSON, or undefined when it cannot be decoded (see `decodeError`). */
  body: JsonValue | undefined;
  decodeError: string | undefined;
  bodyBase64: string;
}

/** `npm run dlq`'s operations on any queue's DLQ: the main queue names it (`<queue>.dlq`). */
export interface DeadLetterConsole {
  list(queue: string): Promise<DeadLetterView[]>;
  show(queue: string, id: string): Promise<DeadLetterDetail | undefined>;
  replay(queue: string, id: string | "all"): Promise<number>;
  purge(queue: string): Promise<number>;
  close(): Promise<void>;
}

/** The DLQ a main queue dead-letters to, named as the platform's topology names it. */
export function deadLetterQueueOf(queue: string): string {
  return commandTopology({ exchange: "", queue, routingKey: "" }).deadLetterQueue;
}

function view(letter: DeadLetter): DeadLetterView {
  const { position, messageId, type, attempts, error, failedAt } = letter;
  return { position, messageId, type, attempts, error, failedAt };
}

function detail(letter: DeadLetter): DeadLetterDetail {
  const headers = Object.fromEntries(Object.entries(letter.headers).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString("utf8") : v]));
  const schema = letter.type === undefined ? undefined : MESSAGE_TYPES.getMessage(letter.type);
  let body: JsonValue | undefined;
  let decodeError: string | undefined;
  if (!schema) decodeError = `unknown message type ${letter.type ?? "(none)"}`;
  else {
    try {
      body = toJson(schema, fromBinary(schema, letter.body), { registry: MESSAGE_TYPES });
    } catch (error) {
      decodeError = `not a valid ${letter.type}: ${(error as Error).message}`;
    }
  }
  return { ...view(letter), headers, body, decodeError, bodyBase64: letter.body.toString("base64") };
}

/**
 * The DLQ operations over one broker connection, opened on first use (AMQP_URL). The messaging
 * runtime (amqplib) is loaded then too: a gateway whose console never reads a queue does without it.
 */
export function deadLetterConsole(options: { url: string; logger: Logger; connectionName: string }): DeadLetterConsole {
  let connection: MessagingConnection | undefined;
  const dlq = async (queue: string) => {
    const { connectMessaging, deadLetterQueue } = await import("@shop/platform/messaging");
    connection ??= connectMessaging({ url: options.url, connectionName: options.connectionName, logger: options.logger });
    await connection.waitForConnect(5_000);
    return deadLetterQueue(connection, commandTopology({ exchange: "", queue, routingKey: "" }));
  };
  return {
    list: async (queue) => (await (await dlq(queue)).list()).map(view),
    show: async (queue, id) => {
      const letter = await (await dlq(queue)).show(id);
      return letter && detail(letter);
    },
    replay: async (queue, id) => (await dlq(queue)).replay(id),
    purge: async (queue) => (await dlq(queue)).purge(),
    close: async () => {
      await connection?.close();
    },
  };
}
