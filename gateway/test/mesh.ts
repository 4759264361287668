// Runs the real mesh for end-to-end tests: every service and the gateway as child processes
// (`node services/<svc>/dist/main.js`, `node gateway/dist/main.js`), each binding port 0 and
// announcing its ports, each service with its own throwaway PostgreSQL database (PGlite start-up
// takes ~15 s per service on this machine; a real server ~2 s) and a unique RabbitMQ prefix;
// stopped with SIGTERM, databases dropped and queues deleted afterwards.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { ServiceProcess } from "@shop/platform/testing/service-process";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** The running mesh. */
export interface Mesh {
  gatewayUrl: string;
  /** Each process's admin port (`http://127.0.0.1:<port>`), by name: the four services and the gateway. */
  adminUrls: Record<string, string>;
  /** The run's RabbitMQ prefix (AMQP_PREFIX), before every queue and exchange name. */
  amqpPrefix: string;
  /** Every process of the mesh by name (inventory, payment, notification, order, gateway). */
  processes: Record<string, ServiceProcess>;
  /** Recent output of every process, for failure messages. */
  logs(): string;
  /** Everything each process has printed so far, by process name. */
  outputs(): Record<string, string>;
  /** Everything one process (inventory, payment, notification, order, gateway) has printed so far. */
  output(name: string): string;
  stop(): Promise<void>;
}

const SERVICES = ["inventory", "payment", "notification", "order"] as const;

/** Starts inventory, payment and notification, then order, then the gateway; resolves when all are ready. */
export async function startMesh(extraEnv: Record<string, string> = {}): Promise<Mesh> {
  const missing = [...SERVICES.map((s) => `services/${s}/dist/main.js`), "gateway/dist/main.js"].filter(
    (file) => !existsSync(join(repoRoot, file)),
  );
  if (missing.length > 0) throw new Error(`build first (npm run build); missing: ${missing.join(", ")}`);
  const dataDir = await mkdtemp(join(tmpdir(), "shop-mesh-"));
  const rabbit = rabbitTestScope("e2e");
  const common: Record<string, string> = {
    HOST: "127.0.0.1",
    AMQP_PREFIX: rabbit.prefix,
    GATEWAY_WORKERS: "1",
    OTEL_TRACES_EXPORTER: "none",
    ...extraEnv,
  };
  const databases: TestDatabase[] = [];
  const processes: ServiceProcess[] = [];
  const start = (name: string, main: string, env: Record<string, string>) => {
    const process = new ServiceProcess(name, {
      envPrefix: name.toUpperCase(),
      main: join(repoRoot, main),
      cwd: repoRoot,
      env: { ...common, [`${name.toUpperCase()}_DATA_DIR`]: join(dataDir, name), ...env },
    });
    processes.push(process);
    return process.start().then(() => process);
  };
  const startService = async (name: (typeof SERVICES)[number], env: Record<string, string> = {}) => {
    const db = await createTestDatabase(`e2e_${name}`);
    databases.push(db);
    return start(name, `services/${name}/dist/main.js`, { [`${name.toUpperCase()}_DATABASE_URL`]: db.url, ...env });
  };
  const logs = () => processes.map((p) => `--- ${p.name}\n${p.recentOutput(3000)}`).join("\n");
  const stop = async () => {
    await Promise.all(processes.map((p) => p.stop(10_000)));
    await Promise.all(databases.map((db) => db.drop()));
    await rabbit.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const [inventory, payment, notification] = await Promise.all([
      startService("inventory"),
      startService("payment"),
      startService("notification"),
    ]);
    const order = await startService("order", { INVENTORY_URL: inventory.target, PAYMENT_URL: payment.target });
    const services = { inventory, payment, notification, order };
    const adminUrl = (p: ServiceProcess) => `http://127.0.0.1:${p.adminPort}`;
    const gateway = await start("gateway", "gateway/dist/main.js", {
      ORDER_URL: order.target,
      INVENTORY_URL: inventory.target,
      PAYMENT_URL: payment.target,
      NOTIFICATION_URL: notification.target,
      // The mesh console watches these admin ports (npm start's defaults are fixed ports).
      GATEWAY_CONSOLE_SERVICES: Object.entries(services)
        .map(([name, p]) => `${name}=${adminUrl(p)}`)
        .join(","),
      ...extraEnv,
    });
    const adminUrls = Object.fromEntries(
      [...Object.entries(services), ["gateway", gateway] as const].map(([name, p]) => [name, adminUrl(p)]),
    );
    const outputs = () => Object.fromEntries(processes.map((p) => [p.name, p.output.join("")]));
    const output = (name: string) =>
      processes
        .filter((p) => p.name === name)
        .map((p) => p.output.join(""))
        .join("");
    return {
      gatewayUrl: gateway.url,
      adminUrls,
      amqpPrefix: rabbit.prefix,
      processes: Object.fromEntries(processes.map((p) => [p.name, p])),
      logs,
      outputs,
      output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
