import { describe, expect, it } from "vitest";
import { parsePrometheusText } from "../src/console/prometheus-text.js";
import { histogramQuantile, methodCounters, methodStats } from "../src/console/rpc-stats.js";

/** /metrics as the platform writes it for one method: `ok` OK calls and `failed` UNAVAILABLE ones, all within `le`. */
function scrape(ok: number, failed: number, buckets: Record<string, number>): string {
  const labels = 'grpc_service="shop.x.v1.XService",grpc_method="Get"';
  const lines = ["# TYPE grpc_server_handled_total counter", `grpc_server_handled_total{${labels},grpc_code="OK"} ${ok}`];
  if (failed > 0) lines.push(`grpc_server_handled_total{${labels},grpc_code="UNAVAILABLE"} ${failed}`);
  for (const [le, count] of Object.entries(buckets)) lines.push(`grpc_server_handling_seconds_bucket{${labels},le="${le}"} ${count}`);
  return `${lines.join("\n")}\n`;
}

describe("the console's RPC figures from /metrics", () => {
  it("parses labels with escaped quotes and skips comments", () => {
    const samples = parsePrometheusText('# HELP x y\nx_total{a="say \\"hi\\"",b="2"} 3\nplain 1.5\n');
    expect(samples).toEqual([
      { name: "x_total", labels: { a: 'say "hi"', b: "2" }, value: 3 },
      { name: "plain", labels: {}, value: 1.5 },
    ]);
  });

  it("interpolates the 99th percentile inside its bucket, as Prometheus does", () => {
    const buckets = [
      { le: 0.01, count: 50 },
      { le: 0.1, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ];
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(0.01 + 0.09 * (49 / 50));
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.01);
    expect(histogramQuantile(0.99, [{ le: Number.POSITIVE_INFINITY, count: 0 }])).toBeUndefined();
  });

  it("gives rate, error rate and p99 over the window between two scrapes, not since start", () => {
    const before = methodCounters(parsePrometheusText(scrape(100, 0, { "0.01": 100, "1": 100, "+Inf": 100 })));
    // 10 s later: 20 more calls, 5 of them UNAVAILABLE, all slow (0.01 s < t <= 1 s).
    const now = methodCounters(parsePrometheusText(scrape(115, 5, { "0.01": 100, "1": 120, "+Inf": 120 })));
    const [stats] = methodStats("x", now, before, 10);
    expect(stats).toMatchObject({ service: "x", method: "shop.x.v1.XService/Get", calls: 120, errors: 5 });
    expect(stats?.ratePerSecond).toBeCloseTo(2);
    expect(stats?.errorsPerSecond).toBeCloseTo(0.5);
    expect(stats?.p99Ms).toBeGreaterThan(10); // since start it would be under 10 ms
  });

  it("has no rate before a second scrape, and falls back to the p99 since start", () => {
    const [stats] = methodStats("x", methodCounters(parsePrometheusText(scrape(10, 0, { "0.01": 10, "+Inf": 10 }))), undefined, 0);
    expect(stats?.ratePerSecond).toBeUndefined();
    expect(stats?.p99Ms).toBeCloseTo(9.9);
  });
});
