// Runs the real mesh for end-to-end tests: every service and the gateway as child processes
// (`node services/<svc>/dist/main.js`), on free loopback ports picked up front, each with its own
// throwaway PostgreSQL database (PGlite start-up takes ~15 s per service on this machine; a real
// server ~2 s) and a unique RabbitMQ prefix, stopped with SIGTERM and dropped afterwards.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** A free loopback port: bind port 0, read it, release it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(name: string, adminPort: number, child: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before it was ready:\n${output()}`);
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${name} was not ready within ${timeoutMs} ms:\n${output()}`);
}

/** The running mesh. */
export interface Mesh {
  gatewayUrl: string;
  /** Recent output of every process, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

const SERVICES = ["inventory", "payment", "notification", "order"] as const;

/** Starts inventory, payment, notification, order and the gateway; resolves when all are ready. */
export async function startMesh(extraEnv: Record<string, string> = {}): Promise<Mesh> {
  const missing = [...SERVICES.map((s) => `services/${s}/dist/main.js`), "gateway/dist/main.js"].filter((file) => !existsSync(join(repoRoot, file)));
  if (missing.length > 0) throw new Error(`build first (npm run build); missing: ${missing.join(", ")}`);
  const dataDir = await mkdtemp(join(tmpdir(), "shop-mesh-"));
  const suffix = Math.random().toString(36).slice(2, 8);
  const ports: Record<string, { port: number; admin: number }> = {};
  for (const name of [...SERVICES, "gateway"]) ports[name] = { port: await freePort(), admin: await freePort() };
  const address = (name: string) => `127.0.0.1:${ports[name]?.port}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    AMQP_PREFIX: `e2e-${suffix}.`,
    ORDER_URL: address("order"),
    INVENTORY_URL: address("inventory"),
    PAYMENT_URL: address("payment"),
    NOTIFICATION_URL: address("notification"),
    GATEWAY_WORKERS: "1",
    OTEL_TRACES_EXPORTER: "none",
    ...extraEnv,
  };
  delete env.DATABASE_URL;
  delete env.NOTIFICATION_DATABASE_URL;
  for (const name of [...SERVICES, "gateway"]) {
    const upper = name.toUpperCase();
    env[`${upper}_PORT`] = String(ports[name]?.port);
    env[`${upper}_ADMIN_PORT`] = String(ports[name]?.admin);
    env[`${upper}_DATA_DIR`] = join(dataDir, name);
  }
  const databases: Record<string, TestDatabase> = {};
  for (const name of SERVICES) databases[name] = await createTestDatabase(`e2e_${name}`);
  const children: { name: string; child: ChildProcess; output: string[] }[] = [];
  const logs = () => children.map(({ name, output }) => `--- ${name}\n${output.join("").slice(-3000)}`).join("\n");
  const stop = async () => {
    await Promise.all(
      children.map(({ child }) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      })),
    );
    await Promise.all(Object.values(databases).map((db) => db.drop()));
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    for (const name of [...SERVICES, "gateway"]) {
      const main = name === "gateway" ? "gateway/dist/main.js" : `services/${name}/dist/main.js`;
      const own = databases[name] ? { DATABASE_URL: databases[name].url, NOTIFICATION_DATABASE_URL: databases[name].url } : {};
      const child = spawn(process.execPath, [join(repoRoot, main)], { cwd: repoRoot, env: { ...env, ...own }, stdio: ["ignore", "pipe", "pipe"] });
      const output: string[] = [];
      child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      children.push({ name, child, output });
    }
    for (const { name, child, output } of children) await waitReady(name, ports[name]?.admin ?? 0, child, () => output.join(""));
  } catch (error) {
    await stop();
    throw error;
  }
  return { gatewayUrl: `http://127.0.0.1:${ports.gateway?.port}`, logs, stop };
}
