import { describe, expect, it } from "vitest";
import { startProcessEnv } from "../start/process-env.mjs";

describe("what npm start adds to a process's environment", () => {
  it("runs the gateway as one process unless GATEWAY_WORKERS is set", () => {
    expect(startProcessEnv("gateway", {})).toEqual({ GATEWAY_WORKERS: "1" });
    expect(startProcessEnv("gateway", { GATEWAY_WORKERS: "2" })).toEqual({});
  });

  it("adds nothing to a service", () => {
    expect(startProcessEnv("order", {})).toEqual({});
  });
});
