import { type Context, context, propagation, type TextMapGetter } from "@opentelemetry/api";

/** AMQP message headers as amqplib reads and writes them. */
export type AmqpHeaders = Record<string, unknown>;

/** Hands the propagator header values as text: strings, or the bytes amqplib may give for a long string. */
const headerGetter: TextMapGetter<AmqpHeaders> = {
  keys: (headers) => Object.keys(headers),
  get(headers, key) {
    const value = headers[key];
    if (typeof value === "string") return value;
    if (Buffer.isBuffer(value)) return value.toString("utf8");
    return undefined;
  },
};

/**
 * Writes the active trace context (W3C `traceparent`/`tracestate`) into AMQP headers; headers given
 * win. Headers that carry a trace context already (a stored message's creation context) are
 * returned as they are: the message keeps the context it carries.
 */
export function injectTraceHeaders(headers: AmqpHeaders = {}, from: Context = context.active()): AmqpHeaders {
  if (typeof headers.traceparent === "string") return headers;
  const carrier: Record<string, string> = {};
  propagation.inject(from, carrier);
  return { ...carrier, ...headers };
}

/** Reads the trace context a publisher put in AMQP headers. */
export function extractTraceContext(headers: AmqpHeaders | undefined): Context {
  return propagation.extract(context.active(), headers ?? {}, headerGetter);
}
