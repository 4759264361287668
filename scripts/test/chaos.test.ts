// The bounded chaos run, part of npm test: `node scripts/chaos/run.mjs` (what `npm run chaos` runs after the
// build) with a fixed seed — a workload through the gateway while every service and a gateway worker are killed,
// payment and inventory frozen past their step deadline and the broker connections closed — and its checker
// must find nothing lost, unexpected or duplicated.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { FAULT_KINDS } from "../chaos/faults.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface ChaosSummary {
  seed: number;
  lost: number;
  unexpected: number;
  duplicate: number;
  stats: {
    orders: number;
    acknowledged: number;
    confirmed: number;
    rejected: number;
    cancelled: number;
    pending: number;
    settled: boolean;
  };
  faults: string[];
}

describe("npm run chaos (bounded)", () => {
  it("loses, invents and duplicates nothing under its seeded fault schedule", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["scripts/chaos/run.mjs", "--seed", "1919", "--seconds", "45", "--json"],
      {
        cwd: root,
        maxBuffer: 64 * 1024 * 1024,
      },
    ).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`the chaos run failed:\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
    });
    const summary = JSON.parse(stdout.trim().split("\n").at(-1) as string) as ChaosSummary;

    expect({ lost: summary.lost, unexpected: summary.unexpected, duplicate: summary.duplicate }, stdout).toEqual({
      lost: 0,
      unexpected: 0,
      duplicate: 0,
    });
    // The run did what it claims: orders of every outcome, every kind of fault, everything settled.
    expect(summary.stats.settled).toBe(true);
    expect(summary.stats.pending).toBe(0);
    expect(summary.stats.confirmed).toBeGreaterThan(0);
    expect(summary.stats.rejected).toBeGreaterThan(0);
    expect(new Set(summary.faults)).toEqual(new Set(FAULT_KINDS));
  }, 420_000);
});
