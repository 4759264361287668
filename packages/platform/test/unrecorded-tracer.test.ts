import { ROOT_CONTEXT, type SpanContext, TraceFlags, trace } from "@opentelemetry/api";
import { TraceState } from "@opentelemetry/core";
import { AlwaysOffSampler, BasicTracerProvider } from "@opentelemetry/sdk-trace-node";
import { describe, expect, it } from "vitest";
import { UnrecordedTracer } from "../src/observability/unrecorded-tracer.js";

const sdkTracer = new BasicTracerProvider({ sampler: new AlwaysOffSampler() }).getTracer("reference");
const tracer = new UnrecordedTracer();

const remoteParent: SpanContext = {
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  traceFlags: TraceFlags.SAMPLED,
  traceState: new TraceState("vendor=abc"),
  isRemote: true,
};

/** What a span looks like from the outside: ids, flags, trace state, recording. */
function shape(span: ReturnType<typeof tracer.startSpan>) {
  const ctx = span.spanContext();
  return {
    recording: span.isRecording(),
    traceFlags: ctx.traceFlags,
    traceState: ctx.traceState?.serialize(),
    validIds: trace.isSpanContextValid(ctx),
  };
}

describe("the tracer used while nothing records spans", () => {
  it("continues the parent's trace with a new span id, as the SDK does under AlwaysOffSampler", () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, remoteParent);
    const span = tracer.startSpan("svc/Method", {}, parent);
    const reference = sdkTracer.startSpan("svc/Method", {}, parent);
    expect(shape(span)).toEqual(shape(reference));
    expect(span.spanContext().traceId).toBe(remoteParent.traceId);
    expect(span.spanContext().spanId).not.toBe(remoteParent.spanId);
    expect(shape(span)).toEqual({ recording: false, traceFlags: TraceFlags.NONE, traceState: "vendor=abc", validIds: true });
  });

  it("starts a fresh, valid trace without a parent, a different one each time", () => {
    const a = tracer.startSpan("svc/Method", {}, ROOT_CONTEXT);
    const b = tracer.startSpan("svc/Method", {}, ROOT_CONTEXT);
    expect(shape(a)).toEqual(shape(sdkTracer.startSpan("svc/Method", {}, ROOT_CONTEXT)));
    expect(a.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.spanContext().spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(a.spanContext().traceId).not.toBe(b.spanContext().traceId);
  });

  it("starts active spans under an explicit parent and returns the callback's result", () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, remoteParent);
    const traceId = tracer.startActiveSpan("work", {}, parent, (span) => span.spanContext().traceId);
    expect(traceId).toBe(remoteParent.traceId);
    expect(tracer.startActiveSpan("work", (span) => span.isRecording())).toBe(false);
  });
});
