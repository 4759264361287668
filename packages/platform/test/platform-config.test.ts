import { describe, expect, it } from "vitest";
import { ConfigError, envInteger, loadServiceConfig } from "../src/index.js";

describe("loadServiceConfig", () => {
  it("uses the documented default ports for each service", () => {
    expect(loadServiceConfig("order", {})).toMatchObject({ port: 50051, adminPort: 9051, host: "0.0.0.0", logLevel: "info" });
    expect(loadServiceConfig("inventory", {})).toMatchObject({ port: 50052, adminPort: 9052 });
    expect(loadServiceConfig("payment", {})).toMatchObject({ port: 50053, adminPort: 9053 });
    expect(loadServiceConfig("notification", {})).toMatchObject({ port: 50054, adminPort: 9054 });
    expect(loadServiceConfig("gateway", {})).toMatchObject({ port: 8080, adminPort: 9080 });
  });

  it("reads <NAME>_PORT, <NAME>_ADMIN_PORT, HOST and LOG_LEVEL, with 0 meaning ephemeral", () => {
    const config = loadServiceConfig("payment", { PAYMENT_PORT: "0", PAYMENT_ADMIN_PORT: "9999", HOST: "127.0.0.1", LOG_LEVEL: "DEBUG", SHUTDOWN_GRACE_MS: "250" });
    expect(config).toMatchObject({ name: "payment", port: 0, adminPort: 9999, host: "127.0.0.1", logLevel: "debug", shutdownGraceMs: 250 });
  });

  it("stops start-up with a message naming a malformed variable", () => {
    expect(() => loadServiceConfig("order", { ORDER_PORT: "http" })).toThrow(ConfigError);
    expect(() => loadServiceConfig("order", { ORDER_PORT: "70000" })).toThrow(/ORDER_PORT/);
    expect(() => loadServiceConfig("order", { LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
  });

  it("reads a service's own integer settings with envInteger: default when unset or empty, bounds enforced", () => {
    expect(envInteger({}, "ORDER_STEP_TIMEOUT_MS", 3000, { min: 1 })).toBe(3000);
    expect(envInteger({ ORDER_STEP_TIMEOUT_MS: "" }, "ORDER_STEP_TIMEOUT_MS", 3000, { min: 1 })).toBe(3000);
    expect(envInteger({ ORDER_STEP_TIMEOUT_MS: "250" }, "ORDER_STEP_TIMEOUT_MS", 3000, { min: 1 })).toBe(250);
    expect(() => envInteger({ ORDER_STEP_TIMEOUT_MS: "0" }, "ORDER_STEP_TIMEOUT_MS", 3000, { min: 1 })).toThrow(/ORDER_STEP_TIMEOUT_MS must be an integer >= 1, got "0"/);
    expect(() => envInteger({ X: "1.5" }, "X", 1)).toThrow(ConfigError);
  });
});
