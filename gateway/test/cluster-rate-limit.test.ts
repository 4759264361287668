// The shared rate limit across node:cluster workers (edge/rate-lease-*.ts): the primary leases
// shares of each caller's window to the workers, which spend them without a message per call; the
// workers together never admit more than the window's burst; a primary that does not answer within
// the timeout leaves each worker's own counters to decide. Runs gateway/dist (as the process tests do).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixture = fileURLToPath(new URL("./fixtures/cluster-rate-limit.mjs", import.meta.url));

interface Outcome {
  allowed: number[];
  warned: number[];
  retryAfterMs: number[];
  afterWindow?: number;
}

function run(env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture], { env: { ...process.env, ...env }, timeout: 25_000 }, (error, stdout) => {
      if (error) return reject(error);
      resolve(JSON.parse(stdout.trim().split("\n").at(-1) as string));
    });
  });
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

describe("the shared rate limit in a node:cluster", () => {
  it("allows the burst once across two workers taking at once (the primary's counters decide every call)", async () => {
    const { allowed, warned, retryAfterMs } = await run({ SERVE: "1", TAKES: "8" });
    expect(sum(allowed)).toBe(5);
    expect(warned).toEqual([0, 0]);
    // Refusals name the time left in the window (5 calls per 5 s).
    for (const ms of retryAfterMs) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(5_000);
    }
  });

  it("admits exactly the burst across two workers taking one call after another, on leased shares", async () => {
    // Each worker takes more calls than the burst, so every share it is granted gets spent.
    const { allowed, warned } = await run({ SERVE: "1", SCENARIO: "sequential", TAKES: "120", BURST: "50", PER_SECOND: "1" });
    expect(sum(allowed)).toBe(50);
    expect(warned).toEqual([0, 0]);
  });

  it("lets one caller on one worker use the whole burst", async () => {
    const { allowed, warned, retryAfterMs } = await run({ SERVE: "1", SCENARIO: "one-worker", TAKES: "60", BURST: "50", PER_SECOND: "1" });
    expect(allowed).toEqual([50, 0]);
    expect(warned).toEqual([0, 0]);
    expect(retryAfterMs[0]).toBeGreaterThan(0);
    expect(retryAfterMs[0]).toBeLessThanOrEqual(50_000);
  });

  it("counts a killed worker's unspent share against its window only: the next window is whole again", async () => {
    // 20 calls per 5 s: worker 0 takes one call (leasing a share of the window) and is killed.
    const { allowed, afterWindow, warned } = await run({ SERVE: "1", SCENARIO: "restart", BURST: "20", PER_SECOND: "4" });
    const [first, second] = allowed as [number, number];
    expect(first).toBe(1);
    // Its lease still counts in this window: never more than the burst in all.
    expect(first + second).toBeLessThan(20);
    expect(afterWindow).toBe(20);
    expect(warned).toEqual([0, 0]);
  }, 30_000);

  it("falls back to each worker's own counters, with a warning per call, when the primary does not answer", async () => {
    const { allowed, warned } = await run({ TAKES: "8" });
    expect(allowed).toEqual([5, 5]);
    expect(warned).toEqual([8, 8]);
  }, 30_000);

  it("falls back the same way when the primary answers later than the timeout", async () => {
    const { allowed, warned } = await run({ SERVE: "slow", TAKES: "8" });
    expect(allowed).toEqual([5, 5]);
    expect(warned).toEqual([8, 8]);
  }, 30_000);
});
