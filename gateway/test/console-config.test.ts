import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../src/config.js";
import { DEV_OPERATOR_TOKEN, loadConsoleConfig } from "../src/console/console-config.js";

const PRODUCTION = { NODE_ENV: "production", GATEWAY_JWT_SECRET: "a-production-secret-of-at-least-32-bytes!!" };

describe("the mesh console's config", () => {
  it("uses the development operator token outside production", () => {
    expect(loadConsoleConfig({}, false).token).toBe(DEV_OPERATOR_TOKEN);
  });

  it("refuses the development operator token with NODE_ENV=production, naming what to set", () => {
    expect(() => loadGatewayConfig({ ...PRODUCTION, GATEWAY_OPERATOR_TOKEN: DEV_OPERATOR_TOKEN })).toThrow(/GATEWAY_OPERATOR_TOKEN/);
  });

  it("turns the console off in production when no token is set", () => {
    expect(loadGatewayConfig(PRODUCTION).console.token).toBeUndefined();
  });

  it("reads the token from GATEWAY_OPERATOR_TOKEN_FILE (a mounted secret) and refuses a short one", () => {
    const file = join(mkdtempSync(join(tmpdir(), "operator-")), "token");
    writeFileSync(file, "a-mounted-operator-token-0123456789\n");
    expect(loadConsoleConfig({ GATEWAY_OPERATOR_TOKEN_FILE: file }, true).token).toBe("a-mounted-operator-token-0123456789");
    expect(() => loadConsoleConfig({ GATEWAY_OPERATOR_TOKEN: "short" }, false)).toThrow(/at least 16 bytes/);
    expect(() => loadConsoleConfig({ GATEWAY_OPERATOR_TOKEN_FILE: join(file, "missing") }, false)).toThrow(/cannot be read/);
  });

  it("watches npm start's admin ports by default, or the services GATEWAY_CONSOLE_SERVICES names, and prefixes its queues", () => {
    expect(loadConsoleConfig({}, false).services.map((s) => `${s.name}=${s.adminUrl}`)).toEqual([
      "order=http://127.0.0.1:9051",
      "inventory=http://127.0.0.1:9052",
      "payment=http://127.0.0.1:9053",
      "notification=http://127.0.0.1:9054",
    ]);
    const config = loadConsoleConfig({ GATEWAY_CONSOLE_SERVICES: "order=http://order:9051/", AMQP_PREFIX: "t." }, false);
    expect(config.services).toEqual([{ name: "order", adminUrl: "http://order:9051" }]);
    expect(config.queues).toEqual(["t.shop.notifications.commands"]);
    expect(() => loadConsoleConfig({ GATEWAY_CONSOLE_SERVICES: "order:9051" }, false)).toThrow(/GATEWAY_CONSOLE_SERVICES/);
  });
});
