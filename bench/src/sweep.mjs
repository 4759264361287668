// The measuring loop every load part shares: warm each target, then for each repeat and each
// concurrency run every target back to back (interleaved), so a noisy neighbour on this small
// machine hits all of them alike; per-point results keep every repeat for min/median/max.
// With `restart`, every repeat after the first runs on freshly started targets (warmed again):
// two processes of the same server differ by up to ~10 % here, so one process must not decide a ratio.
import { spread } from "./stats.mjs";

const METRICS = ["rps", "p50Ms", "p90Ms", "p99Ms", "cpuUsPerRequest", "failed"];

/**
 * `load(id, concurrency, seconds)` runs one measurement and resolves to { rps, p50Ms, p99Ms, ... };
 * `restart()`, if given, replaces the targets with fresh processes between repeats.
 * Resolves to series: [{ id, points: [{ concurrency, rps: {min,median,max,runs}, p50Ms: ..., ... }] }].
 */
export async function sweep({ ids, concurrencies, repeats, seconds, load, log = () => {}, warmupSeconds = Math.min(2, seconds), restart }) {
  const warmUp = async () => {
    for (const id of ids) await load(id, Math.min(16, Math.max(...concurrencies)), warmupSeconds);
  };
  await warmUp();
  const raw = Object.fromEntries(ids.map((id) => [id, Object.fromEntries(concurrencies.map((c) => [c, []]))]));
  for (let round = 0; round < repeats; round++) {
    if (round > 0 && restart) {
      await restart();
      await warmUp();
    }
    for (const concurrency of concurrencies) {
      for (const id of ids) {
        const result = await load(id, concurrency, seconds);
        raw[id][concurrency].push(result);
        log(
          `round ${round + 1}/${repeats} c=${concurrency} ${id}: ${result.rps.toFixed(0)} req/s p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms`,
        );
      }
    }
  }
  return ids.map((id) => ({
    id,
    points: concurrencies.map((concurrency) => ({
      concurrency,
      ...Object.fromEntries(METRICS.map((m) => [m, spread(raw[id][concurrency].map((r) => r[m] ?? NaN))])),
    })),
  }));
}
