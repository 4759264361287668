import { type Attributes, context, type SpanKind, type SpanOptions, type Tracer, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { LazyOtlpTraceExporter } from "./lazy-otlp-exporter.js";
import { UnrecordedTracer } from "./unrecorded-tracer.js";

let provider: NodeTracerProvider | undefined;
let unrecorded: UnrecordedTracer | undefined;
let propagating = false;

/**
 * Turns on the active context (AsyncLocalStorage) for the whole process, once. The platform calls
 * it wherever something reads the active context — creating a client (incoming deadline and
 * trace parent for outgoing calls), a publisher, an outbox write, a consumer — and when spans
 * are exported, so handlers can add child spans. A service that does none of these never pays for
 * it: on Node 20, AsyncLocalStorage runs async hooks on every promise, tick and HTTP/2 stream of
 * the process (measured: 15–25 % of a platform server's CPU per unary call). A handler
 * that reads `trace.getActiveSpan()` or `currentIncomingCall()` on its own calls this at start-up.
 */
export function enableContextPropagation(): void {
  if (propagating) return;
  propagating = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

/** Whether {@link enableContextPropagation} has run: the server adapter skips building contexts nobody reads. */
export function contextPropagationEnabled(): boolean {
  return propagating;
}

function processorsFromEnv(env: NodeJS.ProcessEnv): SpanProcessor[] {
  // Exporter chosen by the standard variable; spans are still created (trace ids in logs and
  // traceparent across hops) when none is set, they are just not exported.
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "none").split(",").map((s) => s.trim().toLowerCase());
  const processors: SpanProcessor[] = [];
  if (exporters.includes("otlp")) processors.push(new BatchSpanProcessor(new LazyOtlpTraceExporter()));
  if (exporters.includes("console")) processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  return processors;
}

/**
 * Installs the process-wide OpenTelemetry tracer provider once: AsyncLocalStorage context,
 * W3C trace-context propagation, exporter from `OTEL_TRACES_EXPORTER` (otlp | console | none,
 * default none; the OTLP exporter reads OTEL_EXPORTER_OTLP_*). Later calls are no-ops.
 */
export function initTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): void {
  if (provider) return;
  const spanProcessors = processorsFromEnv(env);
  // With nowhere to export, spans need not record: non-recording spans still carry (and
  // continue) the trace id for logs and traceparent, at a fraction of the cost per call.
  const recording = spanProcessors.length > 0 || Boolean(env.OTEL_TRACES_SAMPLER);
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME ?? serviceName }),
    spanProcessors,
    ...(recording ? {} : { sampler: new AlwaysOffSampler() }),
  });
  if (!recording) unrecorded = new UnrecordedTracer();
  // The context manager is installed on demand (enableContextPropagation), not here.
  provider.register({ contextManager: null });
  if (spanProcessors.length > 0) enableContextPropagation();
}

/** Flushes and stops the tracer provider (exports pending spans). */
export async function shutdownTracing(): Promise<void> {
  await provider?.forceFlush().catch(() => undefined);
}

/**
 * The platform's tracer (or `scope`'s): the SDK's when spans are recorded, else one that only
 * carries the trace.
 */
export function platformTracer(scope = "@shop/platform"): Tracer {
  return unrecorded ?? trace.getTracer(scope);
}

/**
 * False when the platform's spans are known to record nothing (initTracing with no exporter and no
 * sampler): a span's attributes and links can then be left unbuilt.
 */
export function spansRecorded(): boolean {
  return unrecorded === undefined;
}

/** An RPC span's name and options for one method, built once per method (the tracer copies what it keeps). */
export interface RpcSpanTemplate {
  name: string;
  options: SpanOptions;
}

/** The `service/method` span of `kind` with the rpc.* attributes (and `extra` ones) every RPC span carries. */
export function rpcSpanTemplate(kind: SpanKind, service: string, method: string, extra: Attributes = {}): RpcSpanTemplate {
  return {
    name: `${service}/${method}`,
    options: { kind, attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, ...extra } },
  };
}
