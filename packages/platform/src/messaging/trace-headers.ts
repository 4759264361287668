import { type Context, context, propagation } from "@opentelemetry/api";

/** AMQP message headers as amqplib reads and writes them. */
export type AmqpHeaders = Record<string, unknown>;

/** Writes the active trace context (W3C `traceparent`/`tracestate`) into AMQP headers. */
export function injectTraceHeaders(headers: AmqpHeaders = {}, from: Context = context.active()): AmqpHeaders {
  const carrier: Record<string, string> = {};
  propagation.inject(from, carrier);
  return { ...carrier, ...headers };
}

/** Reads the trace context a publisher put in AMQP headers. */
export function extractTraceContext(headers: AmqpHeaders | undefined): Context {
  const carrier: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (typeof value === "string") carrier[key] = value;
    else if (Buffer.isBuffer(value)) carrier[key] = value.toString("utf8");
  }
  return propagation.extract(context.active(), carrier);
}
