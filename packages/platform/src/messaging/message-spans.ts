import { type Context, type Link, type Span, SpanKind, type SpanOptions, trace } from "@opentelemetry/api";
import { platformTracer, spansRecorded } from "../observability/tracing.js";

/**
 * Spans of a message's life, after the OpenTelemetry messaging semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/):
 *
 * - `create <exchange>` (PRODUCER) when the message is made — for the outbox, when its row is
 *   written in the business transaction. Its context is the message's *creation context*, the
 *   `traceparent` the message carries for the rest of its life (stored in the outbox row).
 * - `send <exchange>` (PRODUCER) when the relay publishes it: a child of the creation context
 *   (the relay runs outside any request) and linked to it, as the conventions ask of a send span.
 * - `process <queue>` (CONSUMER) on receipt: linked to the creation context and — a single
 *   message processed outside any other span, which the conventions allow — its child, so the
 *   order's trace runs on from the request that caused the message to its consumers.
 */
const SYSTEM = "rabbitmq";

/** Attributes common to a message's spans. */
function attributes(
  operation: "create" | "send" | "process",
  destination: string,
  message: { messageId?: string | undefined; routingKey?: string | undefined; type?: string | undefined },
) {
  return {
    "messaging.system": SYSTEM,
    "messaging.operation.type": operation,
    "messaging.operation.name": operation === "send" ? "publish" : operation,
    "messaging.destination.name": destination,
    ...(message.routingKey !== undefined ? { "messaging.rabbitmq.destination.routing_key": message.routingKey } : {}),
    ...(message.messageId !== undefined ? { "messaging.message.id": message.messageId } : {}),
    ...(message.type !== undefined ? { "messaging.message.type": message.type } : {}),
  };
}

function linkTo(creation: Context): Link[] {
  const spanContext = trace.getSpanContext(creation);
  return spanContext && trace.isSpanContextValid(spanContext) ? [{ context: spanContext }] : [];
}

/**
 * A message span's options: kind, attributes and (to its creation context) link — built only when
 * spans record, as they are made for every message on both sides.
 */
function spanOptions(
  kind: SpanKind,
  operation: "create" | "send" | "process",
  destination: string,
  message: Parameters<typeof attributes>[2],
  creation?: Context,
): SpanOptions {
  if (!spansRecorded()) return { kind };
  const options: SpanOptions = { kind, attributes: attributes(operation, destination, message) };
  if (creation) options.links = linkTo(creation);
  return options;
}

/** The PRODUCER span of a message being made (e.g. written to the outbox), in `parent`. */
export function startCreateSpan(exchange: string, message: { messageId: string; routingKey: string; type: string }, parent: Context): Span {
  return platformTracer().startSpan(
    `create ${exchange || "(default)"}`,
    spanOptions(SpanKind.PRODUCER, "create", exchange, message),
    parent,
  );
}

/** The PRODUCER span of a stored message being published, linked to (and a child of) its creation context. */
export function startSendSpan(exchange: string, message: { messageId: string; routingKey: string; type: string }, creation: Context): Span {
  return platformTracer().startSpan(
    `send ${exchange || "(default)"}`,
    spanOptions(SpanKind.PRODUCER, "send", exchange, message, creation),
    creation,
  );
}

/** The CONSUMER span of a received message, linked to (and a child of) its creation context. */
export function startProcessSpan(
  queue: string,
  message: { messageId?: string | undefined; routingKey?: string | undefined; type?: string | undefined },
  creation: Context,
): Span {
  return platformTracer().startSpan(`process ${queue}`, spanOptions(SpanKind.CONSUMER, "process", queue, message, creation), creation);
}
