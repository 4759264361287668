// docker-compose.yml must stay valid for Debian's docker-compose (installed in CI; absent is a
// failure, not a skip), wire every service by environment, publish only the edge, and hold no
// secret. No Docker engine runs here: the images are not built and nothing is started.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./mesh.js";

const run = promisify(execFile);

/** What `npm run compose:secrets` puts in .env, with values that are obviously test values. */
const SECRETS = {
  GATEWAY_JWT_SECRET: "test-jwt-secret-test-jwt-secret-0123456789",
  POSTGRES_PASSWORD: "test-postgres",
  ORDER_DB_PASSWORD: "test-order-db",
  INVENTORY_DB_PASSWORD: "test-inventory-db",
  PAYMENT_DB_PASSWORD: "test-payment-db",
  NOTIFICATION_DB_PASSWORD: "test-notification-db",
  RABBITMQ_ADMIN_PASSWORD: "test-rabbit-admin",
  ORDER_AMQP_PASSWORD: "test-order-amqp",
  NOTIFICATION_AMQP_PASSWORD: "test-notification-amqp",
  CONSOLE_AMQP_PASSWORD: "test-console-amqp",
};

// An empty env file: a developer's own .env (npm run compose:secrets) must not change what the test sees.
const emptyEnvFile = join(mkdtempSync(join(tmpdir(), "compose-env-")), ".env");
writeFileSync(emptyEnvFile, "");
const compose = (env: Record<string, string>, ...args: string[]) =>
  run("docker-compose", ["--env-file", emptyEnvFile, "-f", "docker-compose.yml", ...args], {
    cwd: repoRoot,
    env: { ...process.env, CERTS_DIR: "", ...env },
  });

interface ComposeService {
  profiles?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  image?: string;
  build?: { target?: string };
  /** docker-compose 1.x prints a port as an object, or as "127.0.0.1:9901:9901/tcp" when it has a host IP. */
  ports?: Array<{ target: number; published: string | number; host_ip?: string } | string>;
  /** "source:target:ro", or the long form. */
  volumes?: Array<{ source: string; target: string; read_only?: boolean } | string>;
}

function ports(service: ComposeService): Array<{ target: number; hostIp: string }> {
  return (service.ports ?? []).map((port) => {
    if (typeof port !== "string") return { target: Number(port.target), hostIp: port.host_ip ?? "0.0.0.0" };
    const parts = port.replace(/\/\w+$/, "").split(":");
    return { target: Number(parts.at(-1)), hostIp: parts.length === 3 ? parts[0]! : "0.0.0.0" };
  });
}

function volumes(service: ComposeService): Array<{ source: string; target: string; readOnly: boolean }> {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== "string") return { source: volume.source, target: volume.target, readOnly: volume.read_only === true };
    const [source = "", target = "", mode = ""] = volume.split(":");
    return { source, target, readOnly: mode === "ro" };
  });
}

/** The services `docker-compose up` starts: those of an opt-in profile (observability-stack.test.ts) are left out. */
async function services(): Promise<Record<string, ComposeService>> {
  const all = (parse((await compose(SECRETS, "config")).stdout) as { services: Record<string, ComposeService> }).services;
  return Object.fromEntries(Object.entries(all).filter(([, service]) => !service.profiles?.length));
}

describe("docker-compose.yml", () => {
  it("validates with `docker-compose config -q` once the secrets are set", async () => {
    const { stderr } = await compose(SECRETS, "config", "-q");
    expect(stderr.replace(/.*nodedir.*\n?/g, "")).toBe("");
  });

  it("refuses to start without its secrets, saying how to make them", async () => {
    const failed = await compose({}, "config", "-q").then(
      () => undefined,
      (error: { stderr: string }) => error,
    );
    expect(failed?.stderr).toMatch(/run npm run compose:secrets/);
  });

  it("runs RabbitMQ (management), PostgreSQL with a database and a role per service, the four services, the gateway and Envoy", async () => {
    const all = await services();
    expect(Object.keys(all).sort()).toEqual([
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
    expect(all.rabbitmq?.image).toBe("rabbitmq:3-management");
    for (const name of ["order", "inventory", "payment", "notification"]) {
      const variable = `${name.toUpperCase()}_DATABASE_URL`;
      // Its own role, its own database, a password from .env.
      expect(all[name]?.environment?.[variable], name).toBe(`postgres://${name}:test-${name}-db@postgres:5432/${name}`);
      expect(all[name]?.environment?.DATABASE_URL, name).toBeUndefined();
    }
    expect(all["postgres-init"]?.command?.join(" ")).toMatch(/CREATE DATABASE %I OWNER %I/);
    expect(all.envoy?.build?.target).toBe("envoy");
  });

  it("gives each workload its own broker user and its own mesh certificate", async () => {
    const all = await services();
    expect(all.order?.environment?.AMQP_URL).toBe("amqp://order:test-order-amqp@rabbitmq:5672");
    expect(all.notification?.environment?.AMQP_URL).toBe("amqp://notification:test-notification-amqp@rabbitmq:5672");
    for (const name of ["order", "inventory", "payment", "notification", "gateway"]) {
      expect(all[name]?.environment?.[`${name.toUpperCase()}_TLS_DIR`], name).toBe("/etc/mesh-tls");
      const mount = volumes(all[name]!).find((volume) => volume.target === "/etc/mesh-tls");
      expect(mount?.source, name).toMatch(new RegExp(`/\\.certs/${name}$`));
      expect(mount?.readOnly, name).toBe(true);
    }
    expect(
      volumes(all.envoy!)
        .map((volume) => volume.target)
        .sort(),
    ).toEqual(["/etc/envoy/jwks/jwks.json", "/etc/envoy/mesh-tls"]);
  });

  it("wires the order saga and the gateway's upstreams by environment, with the secret from .env and no development tokens", async () => {
    const all = await services();
    expect(all.order?.environment).toMatchObject({ INVENTORY_URL: "dns:///inventory:50052", PAYMENT_URL: "dns:///payment:50053" });
    expect(all.gateway?.environment).toMatchObject({
      GATEWAY_PORT: "8080",
      ORDER_URL: "dns:///order:50051",
      INVENTORY_URL: "dns:///inventory:50052",
      NOTIFICATION_URL: "dns:///notification:50054",
      GATEWAY_JWT_SECRET: SECRETS.GATEWAY_JWT_SECRET,
      GATEWAY_DEV_TOKENS: "false",
    });
    for (const name of ["order", "inventory", "payment", "notification", "gateway"]) {
      expect(all[name]?.command?.[0], name).toMatch(/dist\/main\.js$/);
    }
  });

  it("publishes only the edge on the host's interfaces; admin ports and the management UI bind 127.0.0.1", async () => {
    const published = Object.entries(await services()).flatMap(([name, service]) => ports(service).map((port) => ({ name, ...port })));
    const open = published.filter((port) => port.hostIp !== "127.0.0.1").map((port) => `${port.name}:${port.target}`);
    expect(open.sort()).toEqual(["envoy:8080", "gateway:8080"]);
    const local = published.filter((port) => port.hostIp === "127.0.0.1").map((port) => `${port.name}:${port.target}`);
    expect(local.sort()).toEqual(["envoy:9901", "gateway:9080", "rabbitmq:15672"]);
  });

  it("holds no secret: no password, key or development secret in the repository's deployment files", async () => {
    const files = ["docker-compose.yml", "gateway/envoy/envoy.yaml", "Dockerfile", "deploy/compose/rabbitmq.conf"];
    const devSecret = "shop-mesh-dev-secret-change-me-0123456789";
    for (const file of files) {
      const text = await readFile(join(repoRoot, file), "utf8");
      expect(text, file).not.toContain(devSecret);
      expect(text, file).not.toContain(Buffer.from(devSecret).toString("base64url"));
      expect(text, file).not.toMatch(/guest:guest|postgres:postgres@|BEGIN (EC |RSA )?PRIVATE KEY/);
      // Every password or secret variable is interpolated from the environment, never a literal.
      for (const [, key, value] of text.matchAll(/^\s*(\w*(?:PASSWORD|SECRET|PASS)\w*):\s+(\S+)/gm))
        expect(value, `${file} ${key}`).toMatch(/^\$\{/);
    }
  });
});
