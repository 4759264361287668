import type { ConfirmChannel, GetMessage } from "amqplib";
import type { MessagingConnection } from "./connection.js";
import { ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER } from "./consumer.js";
import type { Topology } from "./topology.js";
import type { AmqpHeaders } from "./trace-headers.js";

/** One message sitting in the DLQ, as the tools show it. */
export interface DeadLetter {
  /** Position in the queue, from 1. */
  position: number;
  messageId: string | undefined;
  type: string | undefined;
  attempts: number;
  error: string | undefined;
  failedAt: string | undefined;
  headers: AmqpHeaders;
  body: Buffer;
}

/** Inspect and repair the dead-letter queue. `id` is a message id or `#<position>`. */
export interface DeadLetterQueue {
  /** Up to `limit` messages (default 1000), oldest first; they stay in the queue. */
  list(limit?: number): Promise<DeadLetter[]>;
  /** One message, or undefined. */
  show(id: string): Promise<DeadLetter | undefined>;
  /** Moves the matching messages (all when `id` is "all") back to the main queue with attempts reset; returns how many. */
  replay(id: string | "all"): Promise<number>;
  /** Deletes every message; returns how many. */
  purge(): Promise<number>;
}

/** The DLQ tools over `connection` for `topology`. Browsing takes messages unacked and gives them back. */
export function deadLetterQueue(connection: MessagingConnection, topology: Topology): DeadLetterQueue {
  async function withChannel<T>(work: (ch: ConfirmChannel) => Promise<T>): Promise<T> {
    const managed = connection.channel();
    try {
      return await work(await managed.ready(10_000));
    } finally {
      await managed.close(); // closing hands unacked messages back to the queue
    }
  }

  async function browse(ch: ConfirmChannel, limit: number): Promise<Array<{ letter: DeadLetter; raw: GetMessage }>> {
    const out: Array<{ letter: DeadLetter; raw: GetMessage }> = [];
    while (out.length < limit) {
      const raw = await ch.get(topology.deadLetterQueue, { noAck: false });
      if (!raw) break;
      out.push({ letter: toDeadLetter(raw, out.length + 1), raw });
    }
    return out;
  }

  const matches = (letter: DeadLetter, id: string) =>
    id.startsWith("#") ? letter.position === Number(id.slice(1)) : letter.messageId === id;

  return {
    list: (limit = 1_000) => withChannel(async (ch) => (await browse(ch, limit)).map((b) => b.letter)),
    show: (id) => withChannel(async (ch) => (await browse(ch, 100_000)).find((b) => matches(b.letter, id))?.letter),
    replay: (id) =>
      withChannel(async (ch) => {
        let replayed = 0;
        for (const { letter, raw } of await browse(ch, 100_000)) {
          if (id !== "all" && !matches(letter, id)) continue;
          const headers: AmqpHeaders = {
            ...letter.headers,
            [ATTEMPTS_HEADER]: 0,
            "x-replayed-at": new Date().toISOString(),
            "x-last-error": letter.error ?? "",
          };
          delete headers[ERROR_HEADER];
          delete headers["x-death"];
          delete headers["x-delivery-count"];
          await new Promise<void>((resolve, reject) =>
            ch.sendToQueue(
              topology.mainQueue,
              raw.content,
              { type: letter.type, messageId: letter.messageId, contentType: raw.properties.contentType, persistent: true, headers },
              (err: unknown) => (err ? reject(new Error("broker nacked the replay")) : resolve()),
            ),
          );
          ch.ack(raw);
          replayed += 1;
        }
        return replayed;
      }),
    purge: () => withChannel(async (ch) => (await ch.purgeQueue(topology.deadLetterQueue)).messageCount),
  };
}

function toDeadLetter(raw: GetMessage, position: number): DeadLetter {
  const headers: AmqpHeaders = { ...(raw.properties.headers ?? {}) };
  const text = (v: unknown) => (v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v.toString("utf8") : String(v));
  return {
    position,
    messageId: raw.properties.messageId as string | undefined,
    type: raw.properties.type as string | undefined,
    attempts: Number(headers[ATTEMPTS_HEADER] ?? 0) || 0,
    error: text(headers[ERROR_HEADER]),
    failedAt: text(headers[FAILED_AT_HEADER]),
    headers,
    body: raw.content,
  };
}
