// docker-compose.yml must stay valid for Debian's docker-compose (installed in CI; absent is a
// failure, not a skip) and wire every service by environment. No Docker engine runs here: the
// images are not built and nothing is started.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./mesh.js";

const run = promisify(execFile);
const compose = (...args: string[]) =>
  run("docker-compose", ["-f", "docker-compose.yml", ...args], { cwd: repoRoot, env: { ...process.env, GATEWAY_JWT_SECRET: "" } });

interface ComposeService {
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  image?: string;
  build?: { target?: string };
}

describe("docker-compose.yml", () => {
  it("validates with `docker-compose config -q`", async () => {
    const { stderr } = await compose("config", "-q");
    expect(stderr.replace(/.*nodedir.*\n?/g, "")).toBe("");
  });

  it("runs RabbitMQ (management), PostgreSQL with a database per service, the four services, the gateway and Envoy", async () => {
    const config = parse((await compose("config")).stdout) as { services: Record<string, ComposeService> };
    const services = config.services;
    expect(Object.keys(services).sort()).toEqual([
      "envoy",
      "gateway",
      "inventory",
      "notification",
      "order",
      "payment",
      "postgres",
      "postgres-init",
      "rabbitmq",
    ]);
    expect(services.rabbitmq?.image).toBe("rabbitmq:3-management");
    // One server, a database per service: each service opens the one named after it on DATABASE_URL's server.
    for (const name of ["order", "inventory", "payment", "notification"]) {
      expect(services[name]?.environment?.DATABASE_URL, name).toBe("postgres://postgres:postgres@postgres:5432");
      expect(services["postgres-init"]?.command?.join(" "), name).toContain(name);
    }
    expect(services.envoy?.build?.target).toBe("envoy");
  });

  it("wires the order saga, messaging and the gateway's upstreams by environment", async () => {
    const { services } = parse((await compose("config")).stdout) as { services: Record<string, ComposeService> };
    expect(services.order?.environment).toMatchObject({
      INVENTORY_URL: "dns:///inventory:50052",
      PAYMENT_URL: "dns:///payment:50053",
      AMQP_URL: "amqp://guest:guest@rabbitmq:5672",
    });
    expect(services.notification?.environment?.AMQP_URL).toBe("amqp://guest:guest@rabbitmq:5672");
    expect(services.gateway?.environment).toMatchObject({
      GATEWAY_PORT: "8080",
      ORDER_URL: "dns:///order:50051",
      INVENTORY_URL: "dns:///inventory:50052",
      NOTIFICATION_URL: "dns:///notification:50054",
      GATEWAY_JWT_SECRET: "shop-mesh-dev-secret-change-me-0123456789",
    });
    for (const name of ["order", "inventory", "payment", "notification", "gateway"]) {
      expect(services[name]?.command?.[0], name).toMatch(/dist\/main\.js$/);
    }
  });
});
