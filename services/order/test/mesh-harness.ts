import { fileURLToPath } from "node:url";
import { createTestDatabase } from "@shop/platform/testing/postgres";
import { type RabbitTestScope, rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { ServiceProcess } from "@shop/platform/testing/service-process";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** One of the four services as its own process (`node services/<name>/dist/main.js`), on port 0. */
function serviceProcess(name: string, env: Record<string, string>): ServiceProcess {
  return new ServiceProcess(name, { envPrefix: name.toUpperCase(), main: `${repoRoot}services/${name}/dist/main.js`, cwd: repoRoot, env });
}

/** The four services as processes on free ports, each with its own PostgreSQL database. */
export interface DomainMesh {
  inventory: ServiceProcess;
  payment: ServiceProcess;
  notification: ServiceProcess;
  order: ServiceProcess;
  databases: { inventory: string; payment: string; notification: string; order: string };
  amqpPrefix: string;
  /** The run's RabbitMQ names: its queues' depths, `drained()`. */
  rabbit: RabbitTestScope;
  /** Stops the order service and starts it again on the same database with `env` over its first settings. */
  restartOrder(env: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/** Starts the four services; `orderEnv` tunes the order service (timeouts, lease). */
export async function startDomainMesh(orderEnv: Record<string, string> = {}): Promise<DomainMesh> {
  const dbs = await Promise.all([
    createTestDatabase("order_e2e"),
    createTestDatabase("order_e2e"),
    createTestDatabase("order_e2e"),
    createTestDatabase("order_e2e"),
  ]);
  const [inventoryDb, paymentDb, notificationDb, orderDb] = dbs as [(typeof dbs)[0], (typeof dbs)[0], (typeof dbs)[0], (typeof dbs)[0]];
  const rabbit = rabbitTestScope("test-order");
  const amqpPrefix = rabbit.prefix;
  const inventory = serviceProcess("inventory", { INVENTORY_DATABASE_URL: inventoryDb.url });
  const payment = serviceProcess("payment", { PAYMENT_DATABASE_URL: paymentDb.url });
  const notification = serviceProcess("notification", { NOTIFICATION_DATABASE_URL: notificationDb.url, AMQP_PREFIX: amqpPrefix });
  await Promise.all([inventory.start(), payment.start(), notification.start()]);
  const baseOrderEnv = {
    ORDER_DATABASE_URL: orderDb.url,
    INVENTORY_URL: inventory.target,
    PAYMENT_URL: payment.target,
    AMQP_PREFIX: amqpPrefix,
    ...orderEnv,
  };
  const order = serviceProcess("order", baseOrderEnv);
  await order.start();
  const mesh: DomainMesh = {
    inventory,
    payment,
    notification,
    order,
    databases: { inventory: inventoryDb.url, payment: paymentDb.url, notification: notificationDb.url, order: orderDb.url },
    amqpPrefix,
    rabbit,
    async restartOrder(env) {
      await mesh.order.stop();
      mesh.order = serviceProcess("order", { ...baseOrderEnv, ...env });
      await mesh.order.start();
    },
    async close() {
      await Promise.all([mesh.order.stop(), inventory.stop(), payment.stop(), notification.stop()]);
      await Promise.all(dbs.map((db) => db.drop()));
      await rabbit.cleanup();
    },
  };
  return mesh;
}

/**
 * One more order process on `mesh`'s order database and broker prefix: a second replica, as a
 * deployment scales it. Stop it yourself (before `mesh.close()`).
 */
export async function startOrderReplica(mesh: DomainMesh, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const replica = serviceProcess("order", {
    ORDER_DATABASE_URL: mesh.databases.order,
    INVENTORY_URL: mesh.inventory.target,
    PAYMENT_URL: mesh.payment.target,
    AMQP_PREFIX: mesh.amqpPrefix,
    ...env,
  });
  await replica.start();
  return replica;
}
