import { context, propagation, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractTraceContext, injectTraceHeaders } from "../src/messaging/trace-headers.js";

const creation = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: TraceFlags.SAMPLED };
const other = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: TraceFlags.SAMPLED };
const traceparent = (span: { traceId: string; spanId: string }) => `00-${span.traceId}-${span.spanId}-01`;

describe("AMQP trace headers", () => {
  beforeAll(() => propagation.setGlobalPropagator(new W3CTraceContextPropagator()));
  afterAll(() => propagation.disable());

  it("write the given context as traceparent, and headers given win", () => {
    const active = trace.setSpanContext(ROOT_CONTEXT, creation);
    expect(injectTraceHeaders({ "x-attempts": 2 }, active)).toEqual({ traceparent: traceparent(creation), "x-attempts": 2 });
    expect(injectTraceHeaders(undefined, ROOT_CONTEXT)).toEqual({});
  });

  it("keep the trace context a message already carries, whatever context is active", () => {
    const stored = { traceparent: traceparent(creation), "x-custom": "kept" };
    expect(injectTraceHeaders(stored, trace.setSpanContext(ROOT_CONTEXT, other))).toBe(stored);
  });

  it("read the carried context from strings and from the bytes amqplib gives long strings", () => {
    for (const value of [traceparent(creation), Buffer.from(traceparent(creation))]) {
      const read = trace.getSpanContext(context.with(ROOT_CONTEXT, () => extractTraceContext({ traceparent: value, "x-attempts": 1 })));
      expect(read).toMatchObject({ traceId: creation.traceId, spanId: creation.spanId, isRemote: true });
    }
  });

  it("read no context from headers without one, or with one that is not text", () => {
    expect(trace.getSpanContext(extractTraceContext(undefined))).toBeUndefined();
    expect(trace.getSpanContext(extractTraceContext({ traceparent: 42 }))).toBeUndefined();
    expect(trace.getSpanContext(extractTraceContext({ traceparent: "not a traceparent" }))).toBeUndefined();
  });
});
