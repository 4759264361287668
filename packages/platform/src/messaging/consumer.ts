import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { context, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { metricsRegistry } from "../observability/metrics.js";
import { traceFields } from "../observability/trace-fields.js";
import { enableContextPropagation } from "../observability/tracing.js";
import type { MessagingConnection } from "./connection.js";
import { startProcessSpan } from "./message-spans.js";
import { declareTopology, type Topology } from "./topology.js";
import { type AmqpHeaders, extractTraceContext } from "./trace-headers.js";

/** Headers the consumer writes when it gives up on a message or schedules a retry. */
export const ATTEMPTS_HEADER = "x-attempts";
export const ERROR_HEADER = "x-error";
export const FAILED_AT_HEADER = "x-failed-at";
/** Internal: matches a `basic.return` to the forward it belongs to. */
const FORWARD_ID_HEADER = "x-forward-id";

/**
 * Thrown by a handler for a message that can never succeed (e.g. an unknown template): the
 * consumer dead-letters it at once instead of walking it through the retry tiers.
 */
export class UnprocessableMessageError extends Error {
  override readonly name = "UnprocessableMessageError";
}

/** What a handler learns about the delivery besides the decoded message. */
export interface DeliveryInfo {
  messageId: string | undefined;
  /** Failed attempts before this one (0 on first delivery). */
  attempts: number;
  redelivered: boolean;
  headers: AmqpHeaders;
  /** The AMQP `type`: the message's full protobuf name (always set by `startConsumer`). */
  type?: string;
  /** The routing key it was published with (always set by `startConsumer`). */
  routingKey?: string;
  /** A logger for this delivery: the consumer's, with the message id and the process span's `trace_id`/`span_id` (always set by `startConsumer`). */
  log?: Logger;
}

/** A delivery as the consumer hands it to the handler: its logger is always set. */
type Delivery = DeliveryInfo & { type: string; routingKey: string; log: Logger };

/**
 * Options for `startConsumer`: a queue (`topology`: the queue, its bindings, retry tiers and
 * DLQ), its message types, its handler.
 */
export type ConsumerOptions<Desc extends DescMessage> = ConsumerBase<Desc> &
  (
    | {
        /** The one message type this consumer takes; anything else goes to the DLQ. */
        schema: Desc;
        messages?: undefined;
      }
    | {
        /** The message types this consumer takes (matched by the AMQP `type`); anything else goes to the DLQ. */
        messages: readonly Desc[];
        schema?: undefined;
      }
  );

interface ConsumerBase<Desc extends DescMessage> {
  connection: MessagingConnection;
  topology: Topology;
  /**
   * Resolve to ack; throw to retry (then DLQ after `maxAttempts`). Runs in the process span's
   * context. With several message types, tell them apart with `isMessage(message, Schema)`.
   */
  handle(message: MessageShape<Desc>, delivery: DeliveryInfo): Promise<void>;
  logger: Logger;
  /** Unacked deliveries in flight; default 16. */
  prefetch?: number;
  /** Attempts in total, first one included; default: one per retry tier + 1. */
  maxAttempts?: number;
  /** Where `amqp_messages_handled_total{queue,outcome}` is registered; default the platform's `metricsRegistry` (served on /metrics). */
  registry?: Registry;
  /**
   * Called each time the consumer has subscribed: `subscription` 1 at start, then one more after
   * every re-subscription (a lost connection or channel, or a broker cancel). A durable queue kept
   * what arrived meanwhile; an `exclusive` one (a broadcast feed) did not — its owner re-reads
   * whatever state the lost messages would have told it of.
   */
  onSubscribed?(subscription: number): void;
}

/** A running consumer. */
export interface Consumer {
  /** True while subscribed on an open channel. */
  isConsuming(): boolean;
  /** Stops taking deliveries, waits for handlers in flight, closes the channel. */
  close(): Promise<void>;
}

/**
 * Consumes the topology's main queue with manual acks and bounded prefetch. Each delivery is
 * acked — on the channel it came on — only after `handle` resolves. A handler failure
 * republishes the message (confirmed) to the next retry tier with `x-attempts` incremented,
 * then acks; after the last attempt, or at once for an undecodable or unknown message, it goes
 * to the DLQ with `x-error`, `x-attempts` and `x-failed-at`. Never nack-requeue loops.
 */
export function startConsumer<Desc extends DescMessage>(options: ConsumerOptions<Desc>): Consumer {
  enableContextPropagation(); // handlers run in the message's trace context
  const { topology } = options;
  const schemas = new Map<string, Desc>((options.messages ?? [options.schema]).map((schema) => [schema.typeName, schema]));
  let queue = topology.mainQueue;
  let log = options.logger.child({ component: "amqp.consumer", queue });
  const maxAttempts = options.maxAttempts ?? topology.retryQueues.length + 1;
  let inFlight = 0; // deliveries not yet settled
  const drained: Array<() => void> = []; // close() waiting for inFlight to reach 0
  let consumerTag: string | undefined;
  let subscriptions = 0;
  let closing = false;
  let forwardSeq = 0;
  const registry = options.registry ?? metricsRegistry;
  const handled =
    (registry.getSingleMetric("amqp_messages_handled_total") as Counter<"queue" | "outcome"> | undefined) ??
    new Counter({
      name: "amqp_messages_handled_total",
      help: "Deliveries settled by outcome: ack, retry, dead_letter",
      labelNames: ["queue", "outcome"],
      registers: [registry],
    });
  // A per-process queue's broker-made name would be a new label on every start: it counts as its exchange's.
  const label = topology.exclusive ? `${topology.exchange}.(exclusive)` : topology.mainQueue;
  const count = (outcome: "ack" | "retry" | "dead_letter" | "dropped") => handled.inc({ queue: label, outcome });

  // Forwards are mandatory: a retry queue or DLX that vanished must not swallow the message.
  const returned = new WeakMap<ConfirmChannel, Set<string>>();
  const windows = new WeakMap<ConfirmChannel, AckWindow>();
  let window: AckWindow | undefined;
  const channel = options.connection.channel(async (ch) => {
    const returns = new Set<string>();
    returned.set(ch, returns);
    window = new AckWindow(ch);
    windows.set(ch, window);
    ch.on("return", (msg: ConsumeMessage) => returns.add(String(msg.properties.headers?.[FORWARD_ID_HEADER] ?? "")));
    // Declared again on every (re)subscription, not only per connection: after the broker cancelled
    // us because the queue was deleted, consuming from the missing queue would fail forever.
    await declareTopology(ch, topology);
    await ch.prefetch(options.prefetch ?? 16);
    if (topology.exclusive) {
      // A fresh broker-named queue on every (re)open; the old one went with its channel's consumer.
      queue = (await ch.assertQueue("", { exclusive: true, autoDelete: true, durable: false })).queue;
      for (const binding of topology.bindings) await ch.bindQueue(queue, binding.exchange, binding.routingKey);
      log = options.logger.child({ component: "amqp.consumer", queue, exchange: topology.exchange });
    }
    const reply = await ch.consume(
      queue,
      (msg) => {
        if (!msg) {
          // The broker cancelled us (queue deleted or failed over): re-subscribe on a new channel.
          log.warn({ event: "amqp.consumer_cancelled" }, "consumer cancelled by broker");
          void ch.close().catch(() => {});
          return;
        }
        windows.get(ch)?.track(msg);
        void onDelivery(ch, msg);
      },
      { noAck: false },
    );
    consumerTag = reply.consumerTag;
    subscriptions += 1;
    log.info({ event: "amqp.consuming", prefetch: options.prefetch ?? 16, subscription: subscriptions }, "consuming");
    try {
      options.onSubscribed?.(subscriptions);
    } catch (err) {
      log.error({ event: "amqp.on_subscribed_failed", err: (err as Error).message }, "onSubscribed threw; consuming on");
    }
  });

  /** Handles one delivery until it is settled; never rejects. */
  async function onDelivery(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    inFlight++;
    try {
      await receive(ch, msg);
    } catch (err) {
      // The retry/DLQ forward failed (broker refused it, or the channel died). Hand the
      // message back after a pause rather than hold its prefetch slot; if the channel is
      // gone the broker has requeued it already.
      log.error(
        { event: "amqp.delivery_failed", err: (err as Error).message, messageId: msg.properties.messageId },
        "delivery not settled; requeueing after a pause",
      );
      await new Promise((r) => setTimeout(r, 1_000));
      try {
        // Out of the ack window first: a later `multiple` ack must never cover it.
        windows.get(ch)?.forget(msg);
        if (channel.current() === ch) ch.nack(msg, false, true);
      } catch {
        /* channel closed meanwhile: the broker redelivers */
      }
    } finally {
      inFlight--;
      if (inFlight === 0) for (const resolve of drained.splice(0)) resolve();
    }
  }

  /** Decodes, handles and settles one delivery in its `process` span. */
  function receive(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    // amqplib decodes a fresh headers table for every delivery: the handler's own, not shared.
    const headers: AmqpHeaders = msg.properties.headers ?? {};
    const messageId = msg.properties.messageId as string | undefined;
    const type = String(msg.properties.type ?? "");
    const routingKey = msg.fields.routingKey;
    const creation = extractTraceContext(headers);
    const span = startProcessSpan(queue, { messageId, routingKey, type }, creation);
    // The delivery's logger is made when first used: a pino child per message costs more than most
    // of the rest of the consumer's work, and at the usual levels nothing logs on the happy path.
    const base = log;
    let deliveryLog: Logger | undefined;
    const delivery: Delivery = {
      messageId,
      attempts: Number(headers[ATTEMPTS_HEADER] ?? 0) || 0,
      redelivered: msg.fields.redelivered,
      headers,
      type,
      routingKey,
      get log(): Logger {
        deliveryLog ??= base.child({ messageId, type, ...traceFields(span) });
        return deliveryLog;
      },
    };
    return context.with(trace.setSpan(creation, span), () => settle(ch, msg, delivery, span)).finally(() => span.end());
  }

  async function settle(ch: ConfirmChannel, msg: ConsumeMessage, d: Delivery, span: Span): Promise<void> {
    // Read before the handler runs: what it does with its DeliveryInfo does not change how it is settled.
    const { headers, attempts, type } = d;
    if (log.isLevelEnabled("debug")) d.log.debug({ event: "amqp.received", attempt: attempts + 1 }, "message received");
    let message: MessageShape<Desc>;
    try {
      const schema = schemas.get(type);
      if (!schema) throw new Error(`unknown message type "${type}"`);
      // Fields this side does not know are kept as unknown fields, never an error: producers may add fields.
      message = fromBinary(schema, msg.content) as MessageShape<Desc>;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: "undecodable" });
      if (topology.exclusive) {
        d.log.error({ event: "amqp.undecodable", err: (err as Error).message }, "cannot decode; dropped");
        ack(ch, msg);
        count("dropped");
        return;
      }
      d.log.error({ event: "amqp.undecodable", err: (err as Error).message }, "cannot decode; dead-lettering at once");
      await forward(ch, msg, "", topology.deadLetterExchange, headers, attempts + 1, err as Error);
      count("dead_letter");
      return;
    }

    try {
      await options.handle(message, d);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      const attempt = attempts + 1;
      if (topology.exclusive) {
        d.log.error(
          { event: "amqp.dropped", attempt, err: (err as Error).message },
          "handler failed; a per-process queue drops the message",
        );
        ack(ch, msg);
        count("dropped");
        return;
      }
      if (attempt >= maxAttempts || err instanceof UnprocessableMessageError) {
        d.log.error(
          { event: "amqp.dead_lettered", attempt, err: (err as Error).message },
          "handler failed on the last attempt; to the DLQ",
        );
        await forward(ch, msg, "", topology.deadLetterExchange, headers, attempt, err as Error);
        count("dead_letter");
        return;
      }
      const tier = topology.retryQueues[Math.min(attempt - 1, topology.retryQueues.length - 1)];
      if (!tier) {
        await forward(ch, msg, "", topology.deadLetterExchange, headers, attempt, err as Error);
        count("dead_letter");
        return;
      }
      d.log.warn(
        { event: "amqp.retry_scheduled", attempt, delayMs: tier.delayMs, err: (err as Error).message },
        "handler failed; retrying later",
      );
      await forward(ch, msg, tier.name, "", headers, attempt, err as Error);
      count("retry");
      return;
    }
    ack(ch, msg);
    count("ack");
  }

  /** Settles `msg` as acked: sent with the other deliveries settled in this turn of the event loop. */
  function ack(ch: ConfirmChannel, msg: ConsumeMessage): void {
    const w = windows.get(ch);
    if (w) w.ack(msg);
    else ch.ack(msg);
  }

  /** Republishes (confirmed) to a retry queue or the DLX, then acks the original on its own channel. */
  async function forward(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    routingKey: string,
    exchange: string,
    headers: AmqpHeaders,
    attempt: number,
    err: Error,
  ): Promise<void> {
    const forwardId = `${++forwardSeq}`;
    const props: Options.Publish = {
      type: msg.properties.type,
      messageId: msg.properties.messageId,
      contentType: msg.properties.contentType,
      correlationId: msg.properties.correlationId,
      timestamp: msg.properties.timestamp,
      persistent: true,
      mandatory: true,
      headers: {
        ...headers,
        [FORWARD_ID_HEADER]: forwardId,
        [ATTEMPTS_HEADER]: attempt,
        [ERROR_HEADER]: err.message.slice(0, 1_000),
        [FAILED_AT_HEADER]: new Date().toISOString(),
      },
    };
    await new Promise<void>((resolve, reject) => {
      try {
        ch.publish(exchange, routingKey, msg.content, props, (e: unknown) => {
          const returns = returned.get(ch);
          if (e) reject(e instanceof Error ? e : new Error("broker nacked the forward"));
          else if (returns?.delete(forwardId)) reject(new Error(`forward to "${exchange || routingKey}" was unroutable`));
          else resolve();
        });
      } catch (e) {
        reject(e as Error);
      }
    });
    ack(ch, msg);
  }

  return {
    isConsuming: () => channel.current() !== undefined && consumerTag !== undefined && !closing,
    async close() {
      closing = true;
      const ch = channel.current();
      if (ch && consumerTag) await ch.cancel(consumerTag).catch(() => {});
      if (inFlight > 0) await new Promise<void>((resolve) => drained.push(resolve));
      window?.flush();
      await channel.close();
    },
  };
}

/**
 * The deliveries of one channel not yet settled, in delivery-tag order. Acks are sent once per
 * turn of the event loop: the settled run at the head of the window as ONE `basic.ack` with
 * `multiple` (which acks every unsettled tag up to it — hence only a run with nothing unsettled
 * before it), any other settled delivery on its own. A delivery that is nacked leaves the window
 * first (`forget`), so no `multiple` ack ever covers it. On a closed channel nothing is sent: the
 * broker has requeued its deliveries already.
 */
class AckWindow {
  private readonly open: { msg: ConsumeMessage; settled: boolean }[] = [];
  private scheduled = false;

  constructor(private readonly ch: Channel) {}

  /** A new delivery (called in the order the broker delivers). */
  track(msg: ConsumeMessage): void {
    this.open.push({ msg, settled: false });
  }

  /** Marks `msg` acked; the ack goes out at the end of this turn of the event loop. */
  ack(msg: ConsumeMessage): void {
    const entry = this.open.find((e) => e.msg === msg);
    if (!entry) {
      this.send(msg, false);
      return;
    }
    entry.settled = true;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Takes `msg` out of the window without acking it (it is nacked, or its channel is gone). */
  forget(msg: ConsumeMessage): void {
    const i = this.open.findIndex((e) => e.msg === msg);
    if (i >= 0) this.open.splice(i, 1);
  }

  /** Sends the acks of every settled delivery now. */
  flush(): void {
    this.scheduled = false;
    let head: ConsumeMessage | undefined;
    let run = 0;
    while (this.open[0]?.settled) {
      head = this.open.shift()?.msg;
      run++;
    }
    if (head) this.send(head, run > 1);
    for (let i = 0; i < this.open.length; ) {
      const entry = this.open[i]!;
      if (!entry.settled) {
        i++;
        continue;
      }
      this.open.splice(i, 1);
      this.send(entry.msg, false);
    }
  }

  private send(msg: ConsumeMessage, multiple: boolean): void {
    try {
      this.ch.ack(msg, multiple);
    } catch {
      /* channel closed: the broker redelivers what it did not get an ack for */
    }
  }
}
