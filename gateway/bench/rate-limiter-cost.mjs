// What the shared rate limit costs per call: two node:cluster workers each spend `take()` calls as
// fast as they can, with the counters in the primary (shares of each caller's window leased to the
// workers: an IPC round trip per share) or in each worker (RateLimiterMemory). Reports calls/s over both workers, CPU per call summed
// over all three processes, and the latency of one call at a time. Needs the built gateway (npx tsc -b).
// Usage: node gateway/bench/rate-limiter-cost.mjs [seconds per point, default 3] [repeats, default 3]
import cluster from "node:cluster";
import { createLogger } from "@shop/platform";
import { serveSharedRateLimits } from "../dist/edge/rate-lease-primary.js";
import { createRateLimiter } from "../dist/edge/rate-limiter.js";

const WORKERS = 2;
const RATE = { burst: 1e9, perSecond: 1e9 }; // never refuses: every call does the full work of an allowed one
const seconds = Number(process.argv[2] ?? 3);
const repeats = Number(process.argv[3] ?? 3);

/** Keeps `concurrency` calls in flight for `ms`; returns calls made and this process's CPU µs. */
async function load(limiter, concurrency, ms) {
  const cpu = process.cpuUsage();
  const until = performance.now() + ms;
  let calls = 0;
  const keys = Array.from({ length: 64 }, (_, i) => `ip:10.0.0.${i}`);
  async function loop(lane) {
    while (performance.now() < until) {
      const decision = await limiter.take(keys[(calls + lane) % keys.length]);
      if (!decision.allowed) throw new Error("refused: the benchmark's rate is meant to be unlimited");
      calls++;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => loop(lane)));
  const used = process.cpuUsage(cpu);
  return { calls, cpuUs: used.user + used.system };
}

if (cluster.isPrimary) {
  serveSharedRateLimits();
  const results = [];
  for (let round = 0; round < repeats; round++) {
    for (const store of ["process", "cluster"]) {
      for (const concurrency of [1, 64]) {
        const env = { STORE: store, CONCURRENCY: String(concurrency), SECONDS: String(seconds) };
        const workers = Array.from({ length: WORKERS }, () => cluster.fork(env));
        // The workers' own messages, not the limiter's IPC (which shares the channel).
        const next = (worker, type) => new Promise((resolve) => worker.on("message", (m) => m?.bench === type && resolve(m)));
        await Promise.all(workers.map((worker) => next(worker, "measuring")));
        const primaryCpu = process.cpuUsage();
        const reports = await Promise.all(workers.map((worker) => next(worker, "result")));
        const used = process.cpuUsage(primaryCpu);
        await Promise.all(
          workers.map(
            (worker) =>
              new Promise((resolve) => {
                worker.once("exit", resolve);
                worker.kill();
              }),
          ),
        );
        const calls = reports.reduce((sum, r) => sum + r.calls, 0);
        const cpuUs = reports.reduce((sum, r) => sum + r.cpuUs, 0) + used.user + used.system;
        // Little's law: calls in flight over both workers / calls per second = mean time per call.
        const latencyUs = (seconds * 1e6 * WORKERS * concurrency) / calls;
        results.push({ store, concurrency, callsPerSecond: calls / seconds, cpuUsPerCall: cpuUs / calls, latencyUs });
      }
    }
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`two workers, ${seconds} s per point, median of ${repeats}`);
  console.log("store    in flight/worker  calls/s (both)  CPU µs/call (all processes)  mean latency µs");
  for (const store of ["process", "cluster"]) {
    for (const concurrency of [1, 64]) {
      const points = results.filter((r) => r.store === store && r.concurrency === concurrency);
      const row = [
        store.padEnd(8),
        String(concurrency).padStart(17),
        median(points.map((p) => p.callsPerSecond))
          .toFixed(0)
          .padStart(15),
      ];
      row.push(
        median(points.map((p) => p.cpuUsPerCall))
          .toFixed(2)
          .padStart(28),
      );
      row.push(
        median(points.map((p) => p.latencyUs))
          .toFixed(1)
          .padStart(16),
      );
      console.log(row.join(" "));
    }
  }
  process.exit(0);
} else {
  const limiter = createRateLimiter(RATE, process.env.STORE, createLogger("bench", "warn"));
  await load(limiter, Number(process.env.CONCURRENCY), 500); // warm-up, and the cluster limiter's registration
  process.send({ bench: "measuring" });
  const result = await load(limiter, Number(process.env.CONCURRENCY), Number(process.env.SECONDS) * 1000);
  process.send({ bench: "result", ...result });
}
