import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { createTestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * One service running as its own process, as `npm start` runs it. It binds port 0 for gRPC and
 * admin on its first start — no port is guessed, so parallel test files never collide — and
 * learns them from the service's own "listening" log line; a restart reuses them.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];
  port = 0;
  adminPort = 0;

  constructor(
    readonly name: string,
    private readonly env: Record<string, string>,
  ) {}

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the process and waits until it listens and its /readyz says ready. */
  async start(): Promise<void> {
    const upper = this.name.toUpperCase();
    const main = `${repoRoot}services/${this.name}/dist/main.js`;
    const child = spawn(process.execPath, [main], {
      cwd: repoRoot,
      env: { ...process.env, ...this.env, [`${upper}_PORT`]: `${this.port}`, [`${upper}_ADMIN_PORT`]: `${this.adminPort}`, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stderr?.on("data", (chunk: Buffer) => this.output.push(chunk.toString()));
    const listening = new Promise<void>((resolve) => {
      let buffered = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        this.output.push(chunk.toString());
        const lines = (buffered + chunk.toString()).split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.includes('"listening"')) continue;
          const event = JSON.parse(line) as { port: number; adminPort: number };
          this.port = event.port;
          this.adminPort = event.adminPort;
          resolve();
        }
      });
    });
    const deadline = Date.now() + 60_000;
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`${this.name} exited with ${code}:\n${this.output.join("")}`))),
    );
    exited.catch(() => {});
    await Promise.race([listening, exited]);
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}:\n${this.output.join("")}`);
      const ready = await fetch(`http://127.0.0.1:${this.adminPort}/readyz`).then((r) => r.ok, () => false);
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} not ready in 60 s:\n${this.output.join("")}`);
  }

  /** Kills the process without warning, as a crash would. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGKILL");
    await once(child, "exit");
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process: calls to it hang meanwhile. */
  signal(signal: "SIGSTOP" | "SIGCONT"): void {
    this.child?.kill(signal);
  }

  /** Stops the process gracefully and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGCONT");
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}

/** The four services as processes on free ports, each with its own PostgreSQL database. */
export interface DomainMesh {
  inventory: ServiceProcess;
  payment: ServiceProcess;
  notification: ServiceProcess;
  order: ServiceProcess;
  databases: { inventory: string; payment: string; notification: string; order: string };
  amqpPrefix: string;
  close(): Promise<void>;
}

/** Starts the four services; `orderEnv` tunes the order service (timeouts, lease). */
export async function startDomainMesh(orderEnv: Record<string, string> = {}): Promise<DomainMesh> {
  const dbs = await Promise.all([createTestDatabase("order_e2e"), createTestDatabase("order_e2e"), createTestDatabase("order_e2e"), createTestDatabase("order_e2e")]);
  const [inventoryDb, paymentDb, notificationDb, orderDb] = dbs as [(typeof dbs)[0], (typeof dbs)[0], (typeof dbs)[0], (typeof dbs)[0]];
  const rabbit = rabbitTestScope("test-order");
  const amqpPrefix = rabbit.prefix;
  const inventory = new ServiceProcess("inventory", { DATABASE_URL: inventoryDb.url });
  const payment = new ServiceProcess("payment", { DATABASE_URL: paymentDb.url });
  const notification = new ServiceProcess("notification", { DATABASE_URL: notificationDb.url, AMQP_PREFIX: amqpPrefix });
  await Promise.all([inventory.start(), payment.start(), notification.start()]);
  const order = new ServiceProcess("order", {
    DATABASE_URL: orderDb.url,
    INVENTORY_URL: inventory.target,
    PAYMENT_URL: payment.target,
    AMQP_PREFIX: amqpPrefix,
    ...orderEnv,
  });
  await order.start();
  return {
    inventory,
    payment,
    notification,
    order,
    databases: { inventory: inventoryDb.url, payment: paymentDb.url, notification: notificationDb.url, order: orderDb.url },
    amqpPrefix,
    async close() {
      await Promise.all([order.stop(), inventory.stop(), payment.stop(), notification.stop()]);
      await Promise.all(dbs.map((db) => db.drop()));
      await rabbit.cleanup();
    },
  };
}
