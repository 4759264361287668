import { describe, expect, it } from "vitest";
import { startNodeArgs, startProcessEnv } from "../start/process-env.mjs";

describe("what npm start adds to a process's environment", () => {
  it("runs the gateway as one process unless GATEWAY_WORKERS is set", () => {
    expect(startProcessEnv("gateway", {})).toEqual({ GATEWAY_WORKERS: "1" });
    expect(startProcessEnv("gateway", { GATEWAY_WORKERS: "2" })).toEqual({});
  });

  it("adds nothing to a service", () => {
    expect(startProcessEnv("order", {})).toEqual({});
  });

  it("runs every process with V8's --optimize-for-size and --liftoff-only, which SHOP_NODE_FLAGS replaces", () => {
    expect(startNodeArgs({})).toEqual(["--optimize-for-size", "--liftoff-only"]);
    expect(startNodeArgs({ SHOP_NODE_FLAGS: " --max-semi-space-size=4  --trace-gc " })).toEqual(["--max-semi-space-size=4", "--trace-gc"]);
    expect(startNodeArgs({ SHOP_NODE_FLAGS: "" })).toEqual([]);
  });
});
