// The shared rate limit across node:cluster workers, batched over IPC (edge/rate-limiter.ts): the
// primary's counters decide every call of every worker; a primary that does not answer within the
// timeout leaves each worker's own counters to decide. Runs gateway/dist (as the process tests do).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixture = fileURLToPath(new URL("./fixtures/cluster-rate-limit.mjs", import.meta.url));

function run(env: Record<string, string>): Promise<{ allowed: number[]; warned: number[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture], { env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout) => {
      if (error) return reject(error);
      resolve(JSON.parse(stdout.trim().split("\n").at(-1) as string));
    });
  });
}

describe("the shared rate limit in a node:cluster", () => {
  it("allows the burst once across two workers taking at once (the primary's counters decide every call)", async () => {
    const { allowed, warned } = await run({ SERVE: "1", TAKES: "8" });
    expect(allowed.reduce((a, b) => a + b, 0)).toBe(5);
    expect(warned).toEqual([0, 0]);
  });

  it("falls back to each worker's own counters, with a warning per call, when the primary does not answer", async () => {
    const { allowed, warned } = await run({ TAKES: "8" });
    expect(allowed).toEqual([5, 5]);
    expect(warned).toEqual([8, 8]);
  }, 30_000);
});
