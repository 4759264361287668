import type { Sample } from "./prometheus-text.js";

/** What one process's grpc_server_* metrics say about one method, cumulative since it started. */
export interface MethodCounters {
  /** `shop.order.v1.OrderService/CreateOrder`. */
  method: string;
  calls: number;
  /** Calls that ended with any code but OK. */
  errors: number;
  /** Cumulative histogram buckets in seconds, `le` ascending (+Inf last). */
  buckets: Array<{ le: number; count: number }>;
}

/** RED of one method over a window, as the console shows it. */
export interface MethodStats {
  service: string;
  method: string;
  calls: number;
  errors: number;
  /** Calls per second over the window; undefined until two scrapes exist. */
  ratePerSecond: number | undefined;
  errorsPerSecond: number | undefined;
  /** 99th percentile in milliseconds over the window, or since start when the window saw no call. */
  p99Ms: number | undefined;
}

/** Groups grpc_server_handled_total and grpc_server_handling_seconds_bucket samples by method. */
export function methodCounters(samples: readonly Sample[]): Map<string, MethodCounters> {
  const methods = new Map<string, MethodCounters>();
  const entry = (labels: Record<string, string>) => {
    const method = `${labels.grpc_service}/${labels.grpc_method}`;
    let counters = methods.get(method);
    if (!counters) {
      counters = { method, calls: 0, errors: 0, buckets: [] };
      methods.set(method, counters);
    }
    return counters;
  };
  for (const sample of samples) {
    if (sample.name === "grpc_server_handled_total") {
      const counters = entry(sample.labels);
      counters.calls += sample.value;
      if (sample.labels.grpc_code !== "OK") counters.errors += sample.value;
    } else if (sample.name === "grpc_server_handling_seconds_bucket") {
      const le = sample.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample.labels.le);
      const buckets = entry(sample.labels).buckets;
      const bucket = buckets.find((b) => b.le === le);
      if (bucket) bucket.count += sample.value;
      else buckets.push({ le, count: sample.value });
    }
  }
  for (const counters of methods.values()) counters.buckets.sort((a, b) => a.le - b.le);
  return methods;
}

/** Prometheus's histogram_quantile: linear within the bucket holding the rank; the highest finite bound for +Inf. */
export function histogramQuantile(q: number, buckets: ReadonlyArray<{ le: number; count: number }>): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lower;
      const inBucket = bucket.count - below;
      return inBucket <= 0 ? bucket.le : lower + (bucket.le - lower) * ((rank - below) / inBucket);
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}

/** RED per method between an earlier scrape (`before`, `seconds` ago) and now; without one, totals only. */
export function methodStats(
  service: string,
  now: Map<string, MethodCounters>,
  before: Map<string, MethodCounters> | undefined,
  seconds: number,
): MethodStats[] {
  return [...now.values()].map((current) => {
    const earlier = before?.get(current.method);
    const windowed = before !== undefined && seconds > 0;
    const calls = current.calls - (earlier?.calls ?? 0);
    const delta = current.buckets.map((bucket) => ({
      le: bucket.le,
      count: bucket.count - (earlier?.buckets.find((b) => b.le === bucket.le)?.count ?? 0),
    }));
    const p99 = (windowed && calls > 0 ? histogramQuantile(0.99, delta) : undefined) ?? histogramQuantile(0.99, current.buckets);
    return {
      service,
      method: current.method,
      calls: current.calls,
      errors: current.errors,
      ratePerSecond: windowed ? calls / seconds : undefined,
      errorsPerSecond: windowed ? (current.errors - (earlier?.errors ?? 0)) / seconds : undefined,
      p99Ms: p99 === undefined ? undefined : p99 * 1000,
    };
  });
}
