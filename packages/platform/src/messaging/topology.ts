import type { Channel } from "amqplib";

/** The kinds of exchange a queue can be bound to. */
export type ExchangeType = "direct" | "topic" | "fanout";

/** One binding of a consumer's queue: which exchange, by which routing key (a topic pattern on a topic exchange). */
export interface QueueBinding {
  readonly exchange: string;
  readonly exchangeType: ExchangeType;
  readonly routingKey: string;
}

/**
 * Names and timings of one consumer's queue; every name carries `prefix`. A command queue
 * (`commandTopology`) has one binding to a direct exchange; a subscriber's queue
 * (`subscriberTopology`) has one binding per event it takes, to a topic exchange.
 */
export interface Topology {
  /** The prefix every name below starts with ("" in production, unique per test run). */
  readonly prefix: string;
  /** The exchange of the first binding: where a producer of this queue's messages publishes. */
  readonly exchange: string;
  /** The routing key of the first binding (for a command queue: the command's full protobuf type name). */
  readonly routingKey: string;
  /** Every binding of the main queue (the first is `exchange` + `routingKey`). */
  readonly bindings: readonly QueueBinding[];
  /** Quorum queue the consumer reads ("" for an exclusive queue: the broker names it). */
  readonly mainQueue: string;
  /**
   * True for a per-process queue (`broadcastTopology`): exclusive, auto-delete, server-named,
   * declared by the consumer on its own channel; no retry tiers and no DLQ (a failure is logged
   * and dropped: such a queue feeds something live, not a record).
   */
  readonly exclusive?: boolean;
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
    bindings: [{ exchange, exchangeType: "direct", routingKey: options.routingKey }],
    mainQueue,
    deadLetterExchange: `${exchange}.dlx`,
    deadLetterQueue: `${mainQueue}.dlq`,
    retryQueues: delays.map((delayMs) => ({ name: `${mainQueue}.retry.${delayMs}ms`, delayMs })),
  };
}

/** What a subscriber says about its queue on a topic exchange of events. */
export interface SubscriberTopologyOptions {
  /** Topic exchange the events are published to, e.g. "acme.events". */
  exchange: string;
  /** The subscriber's own durable queue, e.g. "billing.order-events". */
  queue: string;
  /** One binding per routing key (events' full type names, or topic patterns such as "acme.order.v1.*"). */
  routingKeys: readonly string[];
  /** Put in front of every name. Default "". */
  prefix?: string;
  /** Back-off tiers in milliseconds. Default {@link DEFAULT_RETRY_DELAYS_MS}. */
  retryDelaysMs?: readonly number[];
}

/**
 * Resolves a subscriber's topology (pure): its own quorum queue bound to the topic exchange once
 * per routing key, with its own retry tiers, dead-letter exchange (`<queue>.dlx`: an exchange
 * per queue, since several subscribers share the topic exchange and a shared fanout DLX would
 * copy one subscriber's dead letters into every DLQ) and DLQ (`<queue>.dlq`).
 */
export function subscriberTopology(options: SubscriberTopologyOptions): Topology {
  const prefix = options.prefix ?? "";
  const exchange = `${prefix}${options.exchange}`;
  const mainQueue = `${prefix}${options.queue}`;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const [first] = options.routingKeys;
  if (first === undefined) throw new Error(`subscriber queue "${mainQueue}" needs at least one routing key`);
  return {
    prefix,
    exchange,
    routingKey: first,
    bindings: options.routingKeys.map((routingKey) => ({ exchange, exchangeType: "topic", routingKey })),
    mainQueue,
    deadLetterExchange: `${mainQueue}.dlx`,
    deadLetterQueue: `${mainQueue}.dlq`,
    retryQueues: delays.map((delayMs) => ({ name: `${mainQueue}.retry.${delayMs}ms`, delayMs })),
  };
}

/** What a process says about the copy of the events it wants for itself. */
export interface BroadcastTopologyOptions {
  /** Topic exchange the events are published to. */
  exchange: string;
  /** One binding per routing key. */
  routingKeys: readonly string[];
  /** Put in front of the exchange name. Default "". */
  prefix?: string;
}

/**
 * Resolves a per-process topology (pure): an exclusive, auto-delete queue the broker names,
 * bound to the topic exchange once per routing key, so every replica of a service gets every
 * event (e.g. to feed its live streams). It lives as long as the consumer's connection.
 */
export function broadcastTopology(options: BroadcastTopologyOptions): Topology {
  const prefix = options.prefix ?? "";
  const exchange = `${prefix}${options.exchange}`;
  const [first] = options.routingKeys;
  if (first === undefined) throw new Error(`a broadcast queue on "${exchange}" needs at least one routing key`);
  return {
    prefix,
    exchange,
    routingKey: first,
    bindings: options.routingKeys.map((routingKey) => ({ exchange, exchangeType: "topic", routingKey })),
    mainQueue: "",
    exclusive: true,
    deadLetterExchange: "",
    deadLetterQueue: "",
    retryQueues: [],
  };
}

// Quorum queues with at-least-once dead-lettering need reject-publish overflow: together they
// make the broker keep a message until the dead-letter target has confirmed it.
const SAFE_QUORUM = {
  "x-queue-type": "quorum",
  "x-overflow": "reject-publish",
} as const;

/** Declares a durable exchange idempotently: what a producer relies on, leaving queues to their consumers. */
export async function declareExchange(channel: Channel, name: string, type: ExchangeType = "direct"): Promise<void> {
  await channel.assertExchange(name, type, { durable: true });
}

/**
 * Declares the topology idempotently: DLX and DLQ first (so nothing points at a missing
 * exchange), then the main exchange and queue, then the retry tiers. Declaring the same names
 * with different arguments fails with PRECONDITION_FAILED, which closes `channel`.
 */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  if (topology.exclusive) {
    // The queue is the consumer's to declare on its own channel; only the exchanges are shared.
    for (const binding of topology.bindings) await channel.assertExchange(binding.exchange, binding.exchangeType, { durable: true });
    return;
  }
  await channel.assertExchange(topology.deadLetterExchange, "fanout", { durable: true });
  await channel.assertQueue(topology.deadLetterQueue, { durable: true, arguments: { "x-queue-type": "quorum" } });
  await channel.bindQueue(topology.deadLetterQueue, topology.deadLetterExchange, "");

  await channel.assertQueue(topology.mainQueue, {
    durable: true,
    arguments: {
      ...SAFE_QUORUM,
      "x-dead-letter-exchange": topology.deadLetterExchange,
      "x-dead-letter-strategy": "at-least-once",
    },
  });
  for (const binding of topology.bindings) {
    await channel.assertExchange(binding.exchange, binding.exchangeType, { durable: true });
    await channel.bindQueue(topology.mainQueue, binding.exchange, binding.routingKey);
  }

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
