import type { Channel } from "amqplib";

/** Names and timings of the notification-command topology; every name carries `prefix`. */
export interface Topology {
  /** The prefix every name below starts with ("" in production, unique per test run). */
  readonly prefix: string;
  /** Direct exchange commands are published to. */
  readonly exchange: string;
  /** Routing key the main queue is bound with (the command's full protobuf type name). */
  readonly routingKey: string;
  /** Quorum queue the consumer reads. */
  readonly mainQueue: string;
  /** Fanout exchange the main queue dead-letters to; declared before anything points at it. */
  readonly deadLetterExchange: string;
  /** Quorum queue holding commands that failed every attempt or could not be decoded. */
  readonly deadLetterQueue: string;
  /** One delay queue per back-off tier, in order: its TTL, then back to the main queue. */
  readonly retryQueues: readonly { readonly name: string; readonly delayMs: number }[];
}

/** What can be configured about the topology; everything has a production default. */
export interface TopologyOptions {
  /** Put in front of every name, e.g. "test-3f9a." — keeps test runs apart. Default "". */
  prefix?: string;
  /** Back-off tiers in milliseconds. Default [1000, 5000, 30000]. */
  retryDelaysMs?: readonly number[];
  /** Routing key of the main binding. Default "shop.notification.v1.SendNotificationCommand". */
  routingKey?: string;
}

/** The default command exchange. */
export const DEFAULT_EXCHANGE = "shop.notifications";
/** The default main queue. */
export const DEFAULT_MAIN_QUEUE = "shop.notifications.commands";
/** The default retry tiers. */
export const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000] as const;
/** The routing key commands are published with and the main queue is bound by. */
export const SEND_NOTIFICATION_ROUTING_KEY = "shop.notification.v1.SendNotificationCommand";

/** Resolves the topology's names from options (pure: nothing is declared). */
export function notificationTopology(options: TopologyOptions = {}): Topology {
  const prefix = options.prefix ?? "";
  const exchange = `${prefix}${DEFAULT_EXCHANGE}`;
  const mainQueue = `${prefix}${DEFAULT_MAIN_QUEUE}`;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  return {
    prefix,
    exchange,
    routingKey: options.routingKey ?? SEND_NOTIFICATION_ROUTING_KEY,
    mainQueue,
    deadLetterExchange: `${exchange}.dlx`,
    deadLetterQueue: `${mainQueue}.dlq`,
    retryQueues: delays.map((delayMs) => ({ name: `${mainQueue}.retry.${delayMs}ms`, delayMs })),
  };
}

// Quorum queues with at-least-once dead-lettering need reject-publish overflow: together they
// make the broker keep a message until the dead-letter target has confirmed it.
const SAFE_QUORUM = {
  "x-queue-type": "quorum",
  "x-overflow": "reject-publish",
} as const;

/**
 * Declares the topology idempotently: DLX and DLQ first (so nothing points at a missing
 * exchange), then the main exchange and queue, then the retry tiers. Declaring the same names
 * with different arguments fails with PRECONDITION_FAILED, which closes `channel`.
 */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  await channel.assertExchange(topology.deadLetterExchange, "fanout", { durable: true });
  await channel.assertQueue(topology.deadLetterQueue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  await channel.bindQueue(topology.deadLetterQueue, topology.deadLetterExchange, "");

  await channel.assertExchange(topology.exchange, "direct", { durable: true });
  await channel.assertQueue(topology.mainQueue, {
    durable: true,
    arguments: {
      ...SAFE_QUORUM,
      "x-dead-letter-exchange": topology.deadLetterExchange,
      "x-dead-letter-strategy": "at-least-once",
    },
  });
  await channel.bindQueue(topology.mainQueue, topology.exchange, topology.routingKey);

  for (const tier of topology.retryQueues) {
    // Expiry only happens at a queue's head, so each delay gets its own queue.
    await channel.assertQueue(tier.name, {
      durable: true,
      arguments: {
        ...SAFE_QUORUM,
        "x-message-ttl": tier.delayMs,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": topology.mainQueue,
        "x-dead-letter-strategy": "at-least-once",
      },
    });
  }
}
