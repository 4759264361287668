import type { MetricsSource } from "@shop/platform";
import { parsePrometheusText, type Sample } from "./prometheus-text.js";
import { type MethodCounters, type MethodStats, methodCounters, methodStats } from "./rpc-stats.js";

/** A watched process: a service's admin URL, or the gateway itself (in-process). */
export type WatchedProcess = { name: string; adminUrl: string } | { name: string; ready: () => boolean; metrics: MetricsSource };

/** The health vocabulary of grpc.health.v1, plus UNREACHABLE when the admin port does not answer. */
export type HealthStatus = "SERVING" | "NOT_SERVING" | "UNREACHABLE";

/** What /console/api/overview answers. */
export interface MeshOverview {
  sampledAt: string;
  /** Seconds between the scrape the rates compare with and this one (0 on the first). */
  windowSeconds: number;
  services: Array<{ name: string; status: HealthStatus; detail?: string }>;
  methods: MethodStats[];
  outbox: Array<{ service: string; backlog: number; oldestAgeSeconds: number }>;
  queues: Array<{ service: string; queue: string; messages: number; consumers: number | undefined; deadLetter: boolean }>;
}

interface Scrape {
  at: number;
  methods: Map<string, Map<string, MethodCounters>>;
}

const TIMEOUT_MS = 2_000;
/** Rates compare with the latest scrape at least this old (the page polls more often; one poll apart is noise). */
const WINDOW_MS = 10_000;
const KEEP_MS = 60_000;

async function probe(process: WatchedProcess): Promise<{ status: HealthStatus; detail?: string; samples: Sample[] }> {
  if (!("adminUrl" in process)) {
    const samples = parsePrometheusText(await process.metrics.metrics().catch(() => ""));
    return { status: process.ready() ? "SERVING" : "NOT_SERVING", samples };
  }
  const get = (path: string) => fetch(`${process.adminUrl}${path}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const [ready, metrics] = await Promise.allSettled([get("/readyz"), get("/metrics").then((r) => (r.ok ? r.text() : ""))]);
  const samples = metrics.status === "fulfilled" ? parsePrometheusText(metrics.value) : [];
  if (ready.status === "rejected") {
    const error = ready.reason as Error & { cause?: { code?: string } };
    return { status: "UNREACHABLE", detail: `${process.adminUrl}: ${error.cause?.code ?? error.message}`, samples };
  }
  await ready.value.body?.cancel();
  return ready.value.ok ? { status: "SERVING", samples } : { status: "NOT_SERVING", detail: `/readyz ${ready.value.status}`, samples };
}

/** Scrapes every watched process's readiness and /metrics and turns them into the console's overview. */
export class MeshOverviewSource {
  private readonly scrapes: Scrape[] = [];

  constructor(private readonly processes: readonly WatchedProcess[]) {}

  async overview(): Promise<MeshOverview> {
    const probes = await Promise.all(this.processes.map(probe));
    const now = Date.now();
    const scrape: Scrape = { at: now, methods: new Map() };
    const oldest = this.scrapes[0];
    const base = this.scrapes.filter((s) => now - s.at >= WINDOW_MS).at(-1) ?? (oldest && now - oldest.at >= 1_000 ? oldest : undefined);
    const overview: MeshOverview = {
      sampledAt: new Date(now).toISOString(),
      windowSeconds: 0,
      services: [],
      methods: [],
      outbox: [],
      queues: [],
    };
    overview.windowSeconds = base ? (now - base.at) / 1000 : 0;
    this.processes.forEach((process, i) => {
      const { status, detail, samples } = probes[i]!;
      overview.services.push({ name: process.name, status, ...(detail ? { detail } : {}) });
      const counters = methodCounters(samples);
      scrape.methods.set(process.name, counters);
      overview.methods.push(...methodStats(process.name, counters, base?.methods.get(process.name), overview.windowSeconds));
      const value = (name: string, labels: Record<string, string> = {}) =>
        samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      const backlog = value("outbox_backlog");
      if (backlog !== undefined) {
        overview.outbox.push({ service: process.name, backlog, oldestAgeSeconds: value("outbox_oldest_age_seconds") ?? 0 });
      }
      for (const sample of samples.filter((s) => s.name === "amqp_queue_messages")) {
        const queue = sample.labels.queue ?? "";
        overview.queues.push({
          service: process.name,
          queue,
          messages: sample.value,
          consumers: value("amqp_queue_consumers", { queue }),
          deadLetter: queue.endsWith(".dlq"),
        });
      }
    });
    this.scrapes.push(scrape);
    while (this.scrapes.length > 1 && now - this.scrapes[0]!.at > KEEP_MS) this.scrapes.shift();
    return overview;
  }
}
