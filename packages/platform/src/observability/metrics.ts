import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The process's Prometheus registry: RPC metrics (server and client) and process metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const serverCalls = new Counter({
  name: "grpc_server_handled_total",
  help: "RPCs completed on the server, by service, method and status code.",
  labelNames: ["grpc_service", "grpc_method", "grpc_code"] as const,
  registers: [metricsRegistry],
});
const serverLatency = new Histogram({
  name: "grpc_server_handling_seconds",
  help: "Time to handle an RPC on the server, by service and method.",
  labelNames: ["grpc_service", "grpc_method"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});
const clientCalls = new Counter({
  name: "grpc_client_handled_total",
  help: "RPCs completed by clients, by target, service, method and status code.",
  labelNames: ["grpc_target", "grpc_service", "grpc_method", "grpc_code"] as const,
  registers: [metricsRegistry],
});
const clientLatency = new Histogram({
  name: "grpc_client_handling_seconds",
  help: "Time for an RPC to complete as seen by the client (retries included).",
  labelNames: ["grpc_target", "grpc_service", "grpc_method"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});
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
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];

/** The canonical upper-case name of a gRPC status code. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? "UNKNOWN";
}

/** Per-method recorder with its label children cached, so the hot path does no label hashing. */
export interface MethodMetrics {
  record(code: number, seconds: number): void;
}

/** Metrics for one server method. */
export function serverMethodMetrics(service: string, method: string): MethodMetrics {
  const latency = serverLatency.labels(service, method);
  const byCode = new Map<number, Counter.Internal>();
  return {
    record(code, seconds) {
      let counter = byCode.get(code);
      if (!counter) byCode.set(code, (counter = serverCalls.labels(service, method, codeName(code))));
      counter.inc();
      latency.observe(seconds);
    },
  };
}

/** Metrics for one client method towards one target. */
export function clientMethodMetrics(target: string, service: string, method: string): MethodMetrics {
  const latency = clientLatency.labels(target, service, method);
  const byCode = new Map<number, Counter.Internal>();
  return {
    record(code, seconds) {
      let counter = byCode.get(code);
      if (!counter) byCode.set(code, (counter = clientCalls.labels(target, service, method, codeName(code))));
      counter.inc();
      latency.observe(seconds);
    },
  };
}
