import type { DescMethod } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import {
  type Context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { type Logger, pino } from "pino";
import { plainDestinationOf } from "./logger.js";
import { codeName, type MethodMetrics, serverMethodMetrics } from "./metrics.js";
import { platformTracer } from "./tracing.js";

/** Reads W3C trace headers out of gRPC metadata. */
export const metadataGetter: TextMapGetter<Metadata> = {
  get(carrier, key) {
    const values = carrier.get(key);
    return values.length === 0 ? undefined : String(values[0]);
  },
  keys(carrier) {
    return Object.keys(carrier.getMap());
  },
};

/** One call in flight: the context to run the handler in, and how to finish it. */
export interface CallScope {
  /** The caller's trace context with this call's span; built when first read. */
  readonly context: Context;
  /** Records the call's outcome: span status, metrics, one log line. */
  end(code: number, error?: unknown): void;
}

/** Instruments a server method: begins a scope per call. */
export interface MethodInstrumentation {
  begin(metadata: Metadata): CallScope;
}

/** Observes every call of every served method (tracing, metrics, logs). */
export interface ServerInstrumentation {
  forMethod(method: DescMethod): MethodInstrumentation;
}

/** What the server instrumentation needs. */
export interface ServerInstrumentationOptions {
  logger: Logger;
  /** Log level for successful calls; failures log at warn, unexpected errors at error. */
  okLevel?: "info" | "debug";
}

/**
 * Server-side tracing + metrics + logs, done in the adapter's handler wrapper rather than with
 * @opentelemetry/instrumentation-grpc (whose require hooks are fragile under ESM): a SERVER span
 * continuing the caller's `traceparent`, `grpc_server_*` metrics, and one JSON log line per call.
 */
export function createServerInstrumentation(options: ServerInstrumentationOptions): ServerInstrumentation {
  const { logger } = options;
  const okLevel = options.okLevel ?? "info";
  const tracer = platformTracer();
  return {
    forMethod(method) {
      const serviceName = method.parent.typeName;
      const methodName = method.name;
      // Bindings are serialized once per method, not once per call.
      const log = logger.child({ service: serviceName, method: methodName });
      const observed: ObservedMethod = {
        spanName: `${serviceName}/${methodName}`,
        spanOptions: { kind: SpanKind.SERVER },
        attributes: { "rpc.system": "grpc", "rpc.service": serviceName, "rpc.method": methodName },
        metrics: serverMethodMetrics(serviceName, methodName),
        log,
        okLine: okLineWriter(logger, log, okLevel),
        okLevel,
        tracer,
      };
      return { begin: (metadata) => new ServerCallScope(observed, metadata) };
    },
  };
}

/** What every call of one method shares. */
interface ObservedMethod {
  readonly spanName: string;
  readonly spanOptions: SpanOptions;
  readonly attributes: Record<string, string>;
  readonly metrics: MethodMetrics;
  readonly log: Logger;
  readonly okLevel: "info" | "debug";
  readonly tracer: Tracer;
  /** Writes the OK line without pino formatting it; undefined when the logger's format is not known. */
  readonly okLine: OkLineWriter | undefined;
}

type OkLineWriter = (durationMs: number, traceId: string, spanId: string) => void;

/**
 * Writes a successful call's line — byte for byte what `log[level]({ code: "OK", durationMs,
 * trace_id, span_id }, "rpc")` writes — without pino's per-line work, when the logger's format is known
 * (made by createLogger; any other logger logs through pino). In a loaded server pino's
 * formatting cost ~12 µs a call more than this (bench/platform, A/B). Every value is JSON-safe
 * by construction: a finite number and a hex trace id; bindings are serialized once, here.
 */
function okLineWriter(root: Logger, log: Logger, level: "info" | "debug"): OkLineWriter | undefined {
  const destination = plainDestinationOf(root);
  if (!destination) return undefined;
  // pino's own serialized bindings of this child (`,"pid":1,"name":"billing","service":…`).
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym];
  const head = `{"level":${log.levels.values[level]},"time":`;
  const middle = `${bindings},"code":"OK","durationMs":`;
  return (durationMs, traceId, spanId) => {
    if (log.isLevelEnabled(level))
      destination.write(`${head}${Date.now()}${middle}${durationMs},"trace_id":"${traceId}","span_id":"${spanId}","msg":"rpc"}\n`);
  };
}

/** One call: its SERVER span (continuing the caller's `traceparent`) and start time. */
class ServerCallScope implements CallScope {
  private readonly started = performance.now();
  private readonly parent: Context;
  private readonly span: Span;
  private contextValue: Context | undefined;

  constructor(
    private readonly observed: ObservedMethod,
    metadata: Metadata,
  ) {
    this.parent = metadata.get("traceparent").length > 0 ? propagation.extract(ROOT_CONTEXT, metadata, metadataGetter) : ROOT_CONTEXT;
    this.span = observed.tracer.startSpan(observed.spanName, observed.spanOptions, this.parent);
    if (this.span.isRecording()) this.span.setAttributes(observed.attributes);
  }

  get context(): Context {
    this.contextValue ??= trace.setSpan(this.parent, this.span);
    return this.contextValue;
  }

  end(code: number, error?: unknown): void {
    const { span, observed } = this;
    const elapsedMs = performance.now() - this.started;
    if (span.isRecording()) {
      span.setAttribute("rpc.grpc.status_code", code);
      if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName(code) });
    }
    span.end();
    observed.metrics.record(code, elapsedMs / 1000);
    const durationMs = Math.round(elapsedMs * 1000) / 1000;
    const { traceId: trace_id, spanId: span_id } = span.spanContext();
    if (error !== undefined)
      observed.log.error({ code: codeName(code), durationMs, trace_id, span_id, err: error }, "rpc failed with an unexpected error");
    else if (code !== 0) observed.log.warn({ code: codeName(code), durationMs, trace_id, span_id }, "rpc failed");
    else if (observed.okLine) observed.okLine(durationMs, trace_id, span_id);
    else observed.log[observed.okLevel]({ code: "OK", durationMs, trace_id, span_id }, "rpc");
  }
}
