import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MALLOC_ARENA_MAX, startNodeArgs, startProcessEnv } from "../start/process-env.mjs";

describe("what npm start adds to a process's environment", () => {
  it("runs the gateway as one process unless GATEWAY_WORKERS is set", () => {
    expect(startProcessEnv("gateway", {})).toEqual({ GATEWAY_WORKERS: "1", MALLOC_ARENA_MAX: "2" });
    expect(startProcessEnv("gateway", { GATEWAY_WORKERS: "2" })).toEqual({ MALLOC_ARENA_MAX: "2" });
  });

  it("limits every process to two glibc malloc arenas unless MALLOC_ARENA_MAX is set", () => {
    expect(startProcessEnv("order", {})).toEqual({ MALLOC_ARENA_MAX: "2" });
    expect(startProcessEnv("order", { MALLOC_ARENA_MAX: "4" })).toEqual({});
    expect(startProcessEnv("gateway", { MALLOC_ARENA_MAX: "", GATEWAY_WORKERS: "3" })).toEqual({});
  });

  it("sets the same MALLOC_ARENA_MAX as the container image's runtime stage", () => {
    const dockerfile = readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8");
    const runtime = dockerfile.slice(dockerfile.indexOf(" AS runtime"));
    const env = /^ENV (.*)$/m.exec(runtime)?.[1] ?? "";
    expect(env.split(/\s+/)).toContain(`MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX}`);
  });

  it("runs every process with V8's --optimize-for-size and --liftoff-only, which SHOP_NODE_FLAGS replaces", () => {
    expect(startNodeArgs({})).toEqual(["--optimize-for-size", "--liftoff-only"]);
    expect(startNodeArgs({ SHOP_NODE_FLAGS: " --max-semi-space-size=4  --trace-gc " })).toEqual(["--max-semi-space-size=4", "--trace-gc"]);
    expect(startNodeArgs({ SHOP_NODE_FLAGS: "" })).toEqual([]);
  });
});
