import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Logger } from "pino";
import { traceFields } from "../observability/trace-fields.js";
import { startSendSpan } from "./message-spans.js";
import type { Publisher, RawPublish } from "./publisher.js";
import { type AmqpHeaders, extractTraceContext } from "./trace-headers.js";

/** A stored message's headers as the database hands them back (jsonb: an object, or text on some drivers). */
export function storedHeaders(headers: AmqpHeaders | string | null): AmqpHeaders {
  return typeof headers === "string" ? (JSON.parse(headers) as AmqpHeaders) : (headers ?? {});
}

/** The `trace_id`/`span_id` log fields of the creation context a stored message carries. */
export function storedTraceFields(headers: AmqpHeaders): { trace_id?: string; span_id?: string } {
  return traceFields(trace.getSpan(extractTraceContext(headers)));
}

/**
 * Publishes a stored message (an outbox row) under a `send <exchange>` PRODUCER span, a child
 * of and linked to the creation context in its headers; the message keeps carrying that
 * creation context. Logs the publish with the send span's `trace_id`/`span_id`.
 */
export async function publishStored(publisher: Publisher, message: RawPublish & { headers: AmqpHeaders }, log: Logger): Promise<void> {
  const creation = extractTraceContext(message.headers);
  const exchange = message.exchange ?? publisher.exchange;
  const span = startSendSpan(exchange, { messageId: message.messageId, routingKey: message.routingKey, type: message.type }, creation);
  try {
    await context.with(trace.setSpan(creation, span), () => publisher.publish(message));
    if (log.isLevelEnabled("debug"))
      log.debug(
        { event: "outbox.published", messageId: message.messageId, type: message.type, ...traceFields(span) },
        "outbox row published",
      );
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    span.end();
  }
}
