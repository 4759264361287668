import { describe, expect, it } from "vitest";
import { waitFor } from "../src/testing/wait.js";

describe("waitFor (@shop/platform/testing/wait)", () => {
  it("resolves to the first value that is neither undefined nor false, probing again until then", async () => {
    let probes = 0;
    const value = await waitFor(() => (++probes >= 3 ? { probes } : undefined), { intervalMs: 1 });
    expect(value).toEqual({ probes: 3 });
  });

  it("accepts async probes and conditions", async () => {
    let flag = false;
    setTimeout(() => (flag = true), 5);
    await expect(waitFor(async () => flag, { intervalMs: 1 })).resolves.toBe(true);
  });

  it("fails after its timeout, naming what it waited for", async () => {
    await expect(waitFor(() => false, { timeoutMs: 20, intervalMs: 5, what: "the impossible" })).rejects.toThrow(
      "the impossible not met within 20 ms",
    );
  });
});
