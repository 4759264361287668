// What the gateway reads from the environment: the fronted services, who may call them without a
// token, and where each one runs — policy in config, validated at start-up with the variable named.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { ConfigError } from "@shop/platform";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig, upstreamVariable } from "../src/config.js";
import { repoRoot } from "./mesh.js";

const ORDER = "shop.order.v1.OrderService";
const INVENTORY = "shop.inventory.v1.InventoryService";
const NOTIFICATION = "shop.notification.v1.NotificationService";
const PAYMENT = "shop.payment.v1.PaymentService";

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadGatewayConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadGatewayConfig accepted ${JSON.stringify(env)}`);
}

describe("fronted services (GATEWAY_FRONTED_SERVICES)", () => {
  it("defaults to every service with a public method: order, inventory and notification, not payment", () => {
    expect(loadGatewayConfig({}).frontedServices.map((s) => s.typeName)).toEqual([ORDER, INVENTORY, NOTIFICATION]);
  });

  it("fronts only the services listed", () => {
    const config = loadGatewayConfig({ GATEWAY_FRONTED_SERVICES: ` ${INVENTORY} ` });
    expect(config.frontedServices).toEqual([InventoryService]);
    expect(Object.keys(config.upstreams)).toEqual([INVENTORY]);
  });

  it("refuses a name that is not a service of the contracts, one with nothing public, and an empty list", () => {
    expect(configError({ GATEWAY_FRONTED_SERVICES: "shop.order.v1.OrderServce" }).message).toMatch(
      /^GATEWAY_FRONTED_SERVICES names "shop\.order\.v1\.OrderServce", which is not a service/,
    );
    expect(configError({ GATEWAY_FRONTED_SERVICES: `${ORDER},${PAYMENT}` }).message).toMatch(
      /^GATEWAY_FRONTED_SERVICES names "shop\.payment\.v1\.PaymentService", which has no google\.api\.http method/,
    );
    expect(configError({ GATEWAY_FRONTED_SERVICES: "" }).message).toMatch(/^GATEWAY_FRONTED_SERVICES must name at least one service/);
  });
});

describe("anonymous services (GATEWAY_ANONYMOUS_SERVICES)", () => {
  it("defaults to the product catalogue, and to nothing when the catalogue is not fronted", () => {
    expect(loadGatewayConfig({}).anonymousServices).toEqual([INVENTORY]);
    expect(loadGatewayConfig({ GATEWAY_FRONTED_SERVICES: ORDER }).anonymousServices).toEqual([]);
  });

  it("takes a list of fronted services, or none when set empty", () => {
    const both = loadGatewayConfig({ GATEWAY_ANONYMOUS_SERVICES: `${INVENTORY},${NOTIFICATION}` });
    expect(both.anonymousServices).toEqual([INVENTORY, NOTIFICATION]);
    expect(loadGatewayConfig({ GATEWAY_ANONYMOUS_SERVICES: "" }).anonymousServices).toEqual([]);
  });

  it("refuses a service that is not fronted", () => {
    expect(configError({ GATEWAY_ANONYMOUS_SERVICES: PAYMENT }).message).toMatch(
      /^GATEWAY_ANONYMOUS_SERVICES names "shop\.payment\.v1\.PaymentService", which is not fronted/,
    );
    const notFronted = configError({ GATEWAY_FRONTED_SERVICES: ORDER, GATEWAY_ANONYMOUS_SERVICES: INVENTORY });
    expect(notFronted.message).toMatch(/^GATEWAY_ANONYMOUS_SERVICES/);
  });
});

describe("upstream targets (<NAME>_URL)", () => {
  it("names each service's variable after the service: OrderService -> ORDER_URL", () => {
    expect(loadGatewayConfig({}).frontedServices.map(upstreamVariable)).toEqual(["ORDER_URL", "INVENTORY_URL", "NOTIFICATION_URL"]);
    expect(upstreamVariable({ name: "ReadModelService" } as Parameters<typeof upstreamVariable>[0])).toBe("READ_MODEL_URL");
  });

  it("reads each fronted service's target, with each service's local port as the default", () => {
    const defaults = { [ORDER]: "127.0.0.1:50051", [INVENTORY]: "127.0.0.1:50052", [NOTIFICATION]: "127.0.0.1:50054" };
    expect(loadGatewayConfig({}).upstreams).toEqual(defaults);
    expect(loadGatewayConfig({ ORDER_URL: "dns:///order:50051" }).upstreams[ORDER]).toBe("dns:///order:50051");
  });

  it("refuses a target with white space in it", () => {
    expect(configError({ INVENTORY_URL: "127.0.0.1: 50052" }).message).toMatch(/^INVENTORY_URL must be a grpc-js target/);
  });
});

describe("trusted proxies (GATEWAY_TRUSTED_PROXIES)", () => {
  it("trusts no proxy by default, takes addresses and CIDR ranges, and refuses anything else, naming the variable", () => {
    expect(loadGatewayConfig({}).trustedProxies).toBeUndefined();
    expect(loadGatewayConfig({ GATEWAY_TRUSTED_PROXIES: " 10.0.0.0/8, ::1 " }).trustedProxies?.check("10.4.5.6", "ipv4")).toBe(true);
    expect(configError({ GATEWAY_TRUSTED_PROXIES: "10.0.0.0/8, ingress" }).message).toBe(
      'GATEWAY_TRUSTED_PROXIES: "ingress" is not an IP address or a CIDR range',
    );
  });
});

describe("start-up with invalid config", () => {
  it("stops the gateway process with exit code 1 and a message naming the variable", async () => {
    const run = promisify(execFile);
    const env = { ...process.env, GATEWAY_ANONYMOUS_SERVICES: PAYMENT, GATEWAY_PORT: "0", GATEWAY_ADMIN_PORT: "0" };
    const failed = await run(process.execPath, [join(repoRoot, "gateway/dist/main.js")], { env, timeout: 10_000 }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/^gateway: GATEWAY_ANONYMOUS_SERVICES names "shop\.payment\.v1\.PaymentService"/);
  });

  it("refuses, in production, to start with the development secret or with development tokens on, saying what to set", async () => {
    const run = promisify(execFile);
    const start = (extra: Record<string, string>) =>
      run(process.execPath, [join(repoRoot, "gateway/dist/main.js")], {
        env: { ...process.env, NODE_ENV: "production", GATEWAY_PORT: "0", GATEWAY_ADMIN_PORT: "0", GATEWAY_JWT_SECRET: "", ...extra },
        timeout: 10_000,
      }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
    const noSecret = await start({});
    expect(noSecret?.code).toBe(1);
    expect(noSecret?.stderr).toMatch(/^gateway: NODE_ENV=production refuses the development JWT secret: set GATEWAY_JWT_SECRET/);
    const devSecret = await start({ GATEWAY_JWT_SECRET: "shop-mesh-dev-secret-change-me-0123456789" });
    expect(devSecret?.stderr).toMatch(/refuses the development JWT secret/);
    const devTokens = await start({ GATEWAY_JWT_SECRET: "x".repeat(40), GATEWAY_DEV_TOKENS: "true" });
    expect(devTokens?.stderr).toMatch(/^gateway: GATEWAY_DEV_TOKENS=true is refused when NODE_ENV=production/);
  });
});

describe("production mode (NODE_ENV=production)", () => {
  const secret = "a-real-secret-of-more-than-32-bytes-0123456789";

  it("turns the development sign-in off by default and takes the secret from the environment or a mounted file", () => {
    expect(loadGatewayConfig({ NODE_ENV: "production", GATEWAY_JWT_SECRET: secret })).toMatchObject({ devTokens: false, jwt: { secret } });
    expect(loadGatewayConfig({}).devTokens).toBe(true); // a laptop keeps it
    const dir = mkdtempSync(join(tmpdir(), "gateway-secret-"));
    writeFileSync(join(dir, "jwt"), `${secret}\n`);
    expect(loadGatewayConfig({ NODE_ENV: "production", GATEWAY_JWT_SECRET_FILE: join(dir, "jwt") }).jwt.secret).toBe(secret);
    rmSync(dir, { recursive: true });
  });

  it("refuses the development secret, a missing secret or file, and development tokens", () => {
    expect(configError({ NODE_ENV: "production" }).message).toMatch(/refuses the development JWT secret/);
    expect(configError({ NODE_ENV: "production", GATEWAY_JWT_SECRET: "shop-mesh-dev-secret-change-me-0123456789" }).message).toMatch(
      /refuses the development JWT secret/,
    );
    expect(configError({ NODE_ENV: "production", GATEWAY_JWT_SECRET_FILE: "/nonexistent/jwt" }).message).toMatch(/GATEWAY_JWT_SECRET_FILE/);
    expect(configError({ NODE_ENV: "production", GATEWAY_JWT_SECRET: secret, GATEWAY_DEV_TOKENS: "true" }).message).toMatch(
      /GATEWAY_DEV_TOKENS=true is refused/,
    );
  });

  it("needs no secret when tokens are verified against a JWKS", () => {
    expect(loadGatewayConfig({ NODE_ENV: "production", GATEWAY_JWKS_URL: "https://issuer.example/jwks.json" }).devTokens).toBe(false);
  });
});
