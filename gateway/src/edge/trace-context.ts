import { type Context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The OpenTelemetry context to forward a call in: the caller's W3C trace when its `traceparent`
 * is well-formed, else a fresh root. The platform client, given it as `CallOptions.context`, starts
 * its span in it and injects `traceparent` (and `tracestate`) into the upstream metadata, so one
 * browser call is one trace — without AsyncLocalStorage in the gateway.
 */
export function callerTraceContext(traceparent: string | null, tracestate: string | null): Context {
  if (traceparent === null || !TRACEPARENT.test(traceparent.trim())) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent: traceparent.trim() };
  if (tracestate) carrier.tracestate = tracestate;
  return propagation.extract(ROOT_CONTEXT, carrier);
}
