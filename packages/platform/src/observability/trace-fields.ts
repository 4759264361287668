import { context, type Span, trace } from "@opentelemetry/api";

/** The log fields naming a span: `trace_id` and `span_id` (empty object when there is no valid span). */
export function traceFields(span: Span | undefined = trace.getSpan(context.active())): { trace_id?: string; span_id?: string } {
  const spanContext = span?.spanContext();
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
