import type { Channel } from "amqplib";

/** Names and timings of one command queue's topology; every name carries `prefix`. */
export interface Topology {
  /** The prefix every name below starts with ("" in production, unique per test run). */
  readonly prefix: string;
  /** Direct exchange commands are published to. */
  readonly exchange: string;
  /** Routing key the main queue is bound with (the command's full protobuf type name). */
  readonly routingKey: string;
  /** Quorum queue the consumer reads. */
  readonly mainQueue: string;
  /** Fanout exchange the main queue dead-letters to (`<exchange>.dlx`); declared before anything points at it. */
  readonly deadLetterExchange: string;
  /** Quorum queue holding commands that failed every attempt or could not be decoded (`<queue>.dlq`). */
  readonly deadLetterQueue: string;
  /** One delay queue per back-off tier (`<queue>.retry.<ms>ms`), in order: its TTL, then back to the main queue. */
  readonly retryQueues: readonly { readonly name: string; readonly delayMs: number }[];
}

/** What a service says about the command queue it owns; the DLX, DLQ and retry tiers are named from it. */
export interface CommandTopologyOptions {
  /** Direct exchange the commands are published to, e.g. "billing.commands". */
  exchange: string;
  /** The consumer's main queue, e.g. "billing.commands.charge". */
  queue: string;
  /** Routing key of the main binding: the command's full protobuf type name. */
  routingKey: string;
  /** Put in front of every name, e.g. "test-3f9a." — keeps test runs apart. Default "". */
  prefix?: string;
  /** Back-off tiers in milliseconds. Default {@link DEFAULT_RETRY_DELAYS_MS}. */
  retryDelaysMs?: readonly number[];
}

/** The default retry tiers: 1 s, 5 s, 30 s. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 5_000, 30_000];

/** Resolves a command queue's topology from what its owner passes in (pure: nothing is declared). */
export function commandTopology(options: CommandTopologyOptions): Topology {
  const prefix = options.prefix ?? "";
  const exchange = `${prefix}${options.exchange}`;
  const mainQueue = `${prefix}${options.queue}`;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  return {
    prefix,
    exchange,
    routingKey: options.routingKey,
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

/** Declares a durable exchange idempotently: what a producer relies on, leaving queues to their consumers. */
export async function declareExchange(channel: Channel, name: string, type: "direct" | "topic" | "fanout" = "direct"): Promise<void> {
  await channel.assertExchange(name, type, { durable: true });
}

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
