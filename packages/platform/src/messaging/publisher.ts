import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { ConfirmChannel, Message } from "amqplib";
import type { Logger } from "pino";
import { enableContextPropagation } from "../observability/tracing.js";
import type { ManagedChannel, MessagingConnection } from "./connection.js";
import { type AmqpHeaders, injectTraceHeaders } from "./trace-headers.js";

/** Why the broker did not take a message. */
export type PublishFailure = "unroutable" | "nacked" | "channel_closed" | "not_connected";

/** A publish the broker did not confirm; `reason` says why. */
export class PublishError extends Error {
  override readonly name = "PublishError";
  constructor(
    readonly reason: PublishFailure,
    message: string,
  ) {
    super(message);
  }
}

/** One message as bytes, with the properties it travels with. */
export interface RawPublish {
  /** Defaults to the publisher's exchange. */
  exchange?: string;
  routingKey: string;
  body: Uint8Array;
  /** AMQP `type`: the message's full protobuf name. */
  type: string;
  /** AMQP `message-id`: the command id, consumers de-duplicate by it. */
  messageId: string;
  headers?: AmqpHeaders;
}

/** Publishes with publisher confirms and `mandatory`. */
export interface Publisher {
  /** The default exchange of `publish`. */
  readonly exchange: string;
  /** Resolves after the broker's ack; rejects with PublishError on nack, return (unroutable) or lost channel. */
  publish(message: RawPublish): Promise<void>;
  /** Encodes `message` as binary protobuf and publishes it with `type` = its full name. */
  publishMessage<Desc extends DescMessage>(
    schema: Desc,
    message: MessageShape<Desc>,
    options: { messageId: string; routingKey: string; headers?: AmqpHeaders; exchange?: string },
  ): Promise<void>;
  /** True while a confirm channel is open. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Options for `createPublisher`. */
export interface PublisherOptions {
  /** Default exchange for `publish`. */
  exchange: string;
  logger: Logger;
  /** How long a publish waits for a channel while the broker is away; default 5000 ms. */
  channelWaitMs?: number;
}

interface InFlight {
  messageId: string;
  routingKey: string;
  exchange: string;
  returned?: string;
}

/**
 * Creates a confirm-mode publisher on `connection`. The broker sends `basic.return` for an
 * unroutable mandatory message *before* its ack, so each publish is tracked until its confirm
 * and a return marks it: such a publish rejects with reason "unroutable" although it was acked.
 */
export function createPublisher(connection: MessagingConnection, options: PublisherOptions): Publisher {
  enableContextPropagation(); // published messages carry the active trace context
  const log = options.logger.child({ component: "amqp.publisher" });
  const inFlight = new WeakMap<ConfirmChannel, InFlight[]>();

  const channel: ManagedChannel<ConfirmChannel> = connection.channel(async (ch) => {
    const pending: InFlight[] = [];
    inFlight.set(ch, pending);
    ch.on("return", (returned: Message) => {
      const { exchange, routingKey, replyText } = returned.fields as Message["fields"] & { replyText?: string; exchange: string };
      const messageId = returned.properties.messageId as string | undefined;
      const match = pending.find((p) => !p.returned && p.messageId === messageId && p.routingKey === routingKey && p.exchange === exchange);
      if (match) match.returned = replyText ?? "NO_ROUTE";
    });
  });

  async function publish(message: RawPublish): Promise<void> {
    // The open channel at once (the usual case: no wait, no extra turn); else wait for one.
    let ch = channel.current();
    if (!ch) {
      try {
        ch = await channel.ready(options.channelWaitMs ?? 5_000);
      } catch (err) {
        throw new PublishError("not_connected", (err as Error).message);
      }
    }
    const pending = inFlight.get(ch) ?? [];
    const entry: InFlight = {
      messageId: message.messageId,
      routingKey: message.routingKey,
      exchange: message.exchange ?? options.exchange,
    };
    pending.push(entry);
    await new Promise<void>((resolve, reject) => {
      const done = (err: unknown) => {
        const i = pending.indexOf(entry);
        if (i >= 0) pending.splice(i, 1);
        if (err) {
          const closed = ch !== channel.current() || /closed/i.test(String((err as Error)?.message ?? err));
          reject(
            closed
              ? new PublishError("channel_closed", "channel closed before the broker confirmed")
              : new PublishError("nacked", "broker nacked the message"),
          );
        } else if (entry.returned) {
          reject(
            new PublishError(
              "unroutable",
              `unroutable: ${entry.returned} (exchange "${entry.exchange}", routing key "${entry.routingKey}")`,
            ),
          );
        } else resolve();
      };
      try {
        ch.publish(
          entry.exchange,
          message.routingKey,
          Buffer.isBuffer(message.body) ? message.body : Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
          {
            type: message.type,
            messageId: message.messageId,
            contentType: "application/x-protobuf",
            persistent: true,
            mandatory: true,
            timestamp: Math.floor(Date.now() / 1000),
            headers: injectTraceHeaders(message.headers),
          },
          done,
        );
      } catch (err) {
        done(err ?? new Error("channel closed"));
      }
    });
  }

  return {
    exchange: options.exchange,
    publish,
    publishMessage(schema, message, opts) {
      return publish({ ...opts, body: toBinary(schema, message), type: schema.typeName });
    },
    isReady: () => channel.current() !== undefined,
    async close() {
      await channel.close();
      log.debug({ event: "amqp.publisher_closed" }, "publisher closed");
    },
  };
}
