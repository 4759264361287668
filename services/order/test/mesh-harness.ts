import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { createTestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** A free loopback port, found by binding port 0 and letting it go. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** One service running as its own process, as `npm start` runs it. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    readonly adminPort: number,
    private readonly env: Record<string, string>,
  ) {}

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the process and waits until its /readyz says ready. */
  async start(): Promise<void> {
    const main = `${repoRoot}services/${this.name}/dist/main.js`;
    const child = spawn(process.execPath, [main], {
      cwd: repoRoot,
      env: { ...process.env, ...this.env, LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stdout?.on("data", (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => this.output.push(chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}:\n${this.output.join("")}`);
      try {
        const response = await fetch(`http://127.0.0.1:${this.adminPort}/readyz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} not ready in 30 s:\n${this.output.join("")}`);
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
  const ports = await Promise.all(Array.from({ length: 8 }, freePort));
  const [ip, ia, pp, pa, op, oa, np, na] = ports as [number, number, number, number, number, number, number, number];
  const inventory = new ServiceProcess("inventory", ip, ia, { INVENTORY_PORT: `${ip}`, INVENTORY_ADMIN_PORT: `${ia}`, DATABASE_URL: inventoryDb.url });
  const payment = new ServiceProcess("payment", pp, pa, { PAYMENT_PORT: `${pp}`, PAYMENT_ADMIN_PORT: `${pa}`, DATABASE_URL: paymentDb.url });
  const notification = new ServiceProcess("notification", np, na, {
    NOTIFICATION_PORT: `${np}`,
    NOTIFICATION_ADMIN_PORT: `${na}`,
    DATABASE_URL: notificationDb.url,
    AMQP_PREFIX: amqpPrefix,
  });
  const order = new ServiceProcess("order", op, oa, {
    ORDER_PORT: `${op}`,
    ORDER_ADMIN_PORT: `${oa}`,
    DATABASE_URL: orderDb.url,
    INVENTORY_URL: inventory.target,
    PAYMENT_URL: payment.target,
    AMQP_PREFIX: amqpPrefix,
    ...orderEnv,
  });
  await Promise.all([inventory.start(), payment.start(), notification.start()]);
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
