import { trace, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-node";

let provider: NodeTracerProvider | undefined;

function processorsFromEnv(env: NodeJS.ProcessEnv): SpanProcessor[] {
  // Exporter chosen by the standard variable; spans are still created (trace ids in logs and
  // traceparent across hops) when none is set, they are just not exported.
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "none").split(",").map((s) => s.trim().toLowerCase());
  const processors: SpanProcessor[] = [];
  if (exporters.includes("otlp")) processors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
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
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME ?? serviceName }),
    spanProcessors,
    // With nowhere to export, spans need not record: non-recording spans still carry (and
    // continue) the trace id for logs and traceparent, at a fraction of the cost per call.
    ...(spanProcessors.length === 0 && !env.OTEL_TRACES_SAMPLER ? { sampler: new AlwaysOffSampler() } : {}),
  });
  provider.register();
}

/** Flushes and stops the tracer provider (exports pending spans). */
export async function shutdownTracing(): Promise<void> {
  await provider?.forceFlush().catch(() => undefined);
}

/** The platform's tracer. */
export function platformTracer(): Tracer {
  return trace.getTracer("@shop/platform");
}
