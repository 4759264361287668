import { describe, expect, it } from "vitest";
import { ConfigError, envInteger, envIntegerList, loadServiceConfig } from "../src/index.js";

const ports = { port: 50061, adminPort: 9061 };

describe("loadServiceConfig", () => {
  it("uses the ports the service passes in as defaults", () => {
    expect(loadServiceConfig("billing", ports, {})).toMatchObject({
      name: "billing",
      port: 50061,
      adminPort: 9061,
      host: "0.0.0.0",
      logLevel: "info",
    });
  });

  it("reads <NAME>_PORT, <NAME>_ADMIN_PORT, HOST and LOG_LEVEL, with 0 meaning ephemeral", () => {
    const config = loadServiceConfig("billing", ports, {
      BILLING_PORT: "0",
      BILLING_ADMIN_PORT: "9999",
      HOST: "127.0.0.1",
      LOG_LEVEL: "DEBUG",
      SHUTDOWN_GRACE_MS: "250",
    });
    expect(config).toMatchObject({ name: "billing", port: 0, adminPort: 9999, host: "127.0.0.1", logLevel: "debug", shutdownGraceMs: 250 });
  });

  it("turns a dashed service name into its variable prefix", () => {
    expect(loadServiceConfig("read-model", ports, { READ_MODEL_PORT: "7000" }).port).toBe(7000);
  });

  it("stops start-up with a message naming a malformed variable or name", () => {
    expect(() => loadServiceConfig("billing", ports, { BILLING_PORT: "http" })).toThrow(ConfigError);
    expect(() => loadServiceConfig("billing", ports, { BILLING_PORT: "70000" })).toThrow(/BILLING_PORT/);
    expect(() => loadServiceConfig("billing", ports, { LOG_LEVEL: "loud" })).toThrow(/LOG_LEVEL/);
    expect(() => loadServiceConfig("Billing Service", ports, {})).toThrow(/service name/);
  });

  it("reads a service's own integer settings with envInteger: default when unset or empty, bounds enforced", () => {
    expect(envInteger({}, "BILLING_STEP_TIMEOUT_MS", 3000, { min: 1 })).toBe(3000);
    expect(envInteger({ BILLING_STEP_TIMEOUT_MS: "" }, "BILLING_STEP_TIMEOUT_MS", 3000, { min: 1 })).toBe(3000);
    expect(envInteger({ BILLING_STEP_TIMEOUT_MS: "250" }, "BILLING_STEP_TIMEOUT_MS", 3000, { min: 1 })).toBe(250);
    expect(() => envInteger({ BILLING_STEP_TIMEOUT_MS: "0" }, "BILLING_STEP_TIMEOUT_MS", 3000, { min: 1 })).toThrow(
      /BILLING_STEP_TIMEOUT_MS must be an integer >= 1, got "0"/,
    );
    expect(() => envInteger({ X: "1.5" }, "X", 1)).toThrow(ConfigError);
  });

  it("reads lists of positive integers with envIntegerList", () => {
    expect(envIntegerList({}, "DELAYS", [1, 2])).toEqual([1, 2]);
    expect(envIntegerList({ DELAYS: " 100, 200 " }, "DELAYS", [1])).toEqual([100, 200]);
    expect(() => envIntegerList({ DELAYS: "100,-1" }, "DELAYS", [1])).toThrow(/DELAYS must be a comma-separated list of positive integers/);
    expect(() => envIntegerList({ DELAYS: "100,,200" }, "DELAYS", [1])).toThrow(ConfigError);
  });
});
