import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from "prom-client";

/** The process's Prometheus registry: RPC metrics (server and client) and process metrics. */
export const metricsRegistry = new Registry();
// The event loop's delay is sampled every 10 ms (prom-client's default). That is a hundred wake-ups a
// second in an idle process — most of an idle gateway's CPU (7–10 ms a second on these VMs; 3.3–3.7
// sampled every 100 ms) — but Node's histogram counts the sampling interval into every value, so at
// 100 ms an idle process would report nodejs_eventloop_lag_p99_seconds ≈ 0.1, where the usual alerts
// on that metric start. The standard reading wins over the idle CPU (platform-wire.test.ts checks it).
collectDefaultMetrics({ register: metricsRegistry });

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One label set's call counts by code and its latency histogram, as plain numbers. */
class RpcSeries {
  readonly codes = new Float64Array(17);
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  sum = 0;
  count = 0;
  constructor(readonly labels: Record<string, string>) {}

  record(code: number, seconds: number): void {
    this.codes[code >= 0 && code <= 16 ? code : 2]! += 1;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    if (i < LATENCY_BUCKETS.length) this.buckets[i]! += 1;
    this.sum += seconds;
    this.count++;
  }
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A family of RPC series exposed as a Prometheus counter (by code) and histogram. Recording is a
 * few array increments; the text form is built only at scrape time. (prom-client's own label
 * hashing per observation cost several microseconds a call, a visible share of an RPC.)
 */
class RpcMetricFamily {
  private readonly series: RpcSeries[] = [];
  private readonly byKey = new Map<string, RpcSeries>();

  constructor(counterName: string, counterHelp: string, histogramName: string, histogramHelp: string) {
    metricsRegistry.registerMetric({
      name: counterName,
      help: counterHelp,
      type: "counter",
      get: async () => ({ name: counterName, help: counterHelp, type: "counter", aggregator: "sum", values: this.counterValues() }),
      reset: () => undefined,
    } as unknown as Metric);
    metricsRegistry.registerMetric({
      name: histogramName,
      help: histogramHelp,
      type: "histogram",
      get: async () => ({
        name: histogramName,
        help: histogramHelp,
        type: "histogram",
        aggregator: "sum",
        values: this.histogramValues(histogramName),
      }),
      reset: () => undefined,
    } as unknown as Metric);
  }

  /** The series for a label set, shared by every server or client in the process with those labels. */
  add(labels: Record<string, string>): RpcSeries {
    const key = JSON.stringify(labels);
    let series = this.byKey.get(key);
    if (!series) {
      series = new RpcSeries(labels);
      this.byKey.set(key, series);
      this.series.push(series);
    }
    return series;
  }

  private counterValues(): MetricValue[] {
    const values: MetricValue[] = [];
    for (const series of this.series) {
      series.codes.forEach((value, code) => {
        if (value > 0) values.push({ value, labels: { ...series.labels, grpc_code: codeName(code) } });
      });
    }
    return values;
  }

  private histogramValues(name: string): MetricValue[] {
    const values: MetricValue[] = [];
    for (const series of this.series) {
      if (series.count === 0) continue;
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((bound, i) => {
        cumulative += series.buckets[i]!;
        values.push({ metricName: `${name}_bucket`, value: cumulative, labels: { ...series.labels, le: bound } });
      });
      values.push({ metricName: `${name}_bucket`, value: series.count, labels: { ...series.labels, le: "+Inf" } });
      values.push({ metricName: `${name}_sum`, value: series.sum, labels: series.labels });
      values.push({ metricName: `${name}_count`, value: series.count, labels: series.labels });
    }
    return values;
  }
}

const serverFamily = new RpcMetricFamily(
  "grpc_server_handled_total",
  "RPCs completed on the server, by service, method and status code.",
  "grpc_server_handling_seconds",
  "Time to handle an RPC on the server, by service and method.",
);
const clientFamily = new RpcMetricFamily(
  "grpc_client_handled_total",
  "RPCs completed by clients, by target, service, method and status code.",
  "grpc_client_handling_seconds",
  "Time for an RPC to complete as seen by the client (retries included), by target, service and method.",
);
const breakerState = new Gauge({
  name: "grpc_client_circuit_open",
  help: "1 while the circuit breaker for a target is open or half-open, 0 when closed.",
  labelNames: ["grpc_target"] as const,
  registers: [metricsRegistry],
});
const breakerRejections = new Counter({
  name: "grpc_client_circuit_rejected_total",
  help: "Calls failed fast with UNAVAILABLE because the target's circuit was open.",
  labelNames: ["grpc_target"] as const,
  registers: [metricsRegistry],
});

/** Gauge setter for a target's breaker state. */
export function recordBreakerState(target: string, open: boolean): void {
  breakerState.set({ grpc_target: target }, open ? 1 : 0);
}

/** Counts a call rejected by an open breaker. */
export function recordBreakerRejection(target: string): void {
  breakerRejections.inc({ grpc_target: target });
}

const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** The canonical upper-case name of a gRPC status code. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? "UNKNOWN";
}

/** Per-method recorder: counts by code plus latency, for one label set. */
export interface MethodMetrics {
  record(code: number, seconds: number): void;
}

/** Metrics for one server method. */
export function serverMethodMetrics(service: string, method: string): MethodMetrics {
  return serverFamily.add({ grpc_service: service, grpc_method: method });
}

/** Metrics for one client method towards one target. */
export function clientMethodMetrics(target: string, service: string, method: string): MethodMetrics {
  return clientFamily.add({ grpc_target: target, grpc_service: service, grpc_method: method });
}
