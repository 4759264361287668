// Starts the order path's floor (floor-service.mjs) as the e2e part starts the real mesh: order,
// inventory, payment and notification as processes on free loopback ports, mTLS with fresh mesh
// certificates, a throwaway PostgreSQL database per service with that service's own migrations
// (the real schema and seeded catalogue), a unique RabbitMQ prefix. The result has the shape of
// startMesh's that the e2e part uses: processes, address(name), databases, certsDir, stop().
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestCertificates } from "@shop/platform/testing/certificates";
import { createTestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import pg from "pg";
import { freePort, repoRoot, SERVICES } from "../src/mesh.mjs";
import { applyMigrations } from "../src/migrations.mjs";
import { stopChild } from "../src/processes.mjs";

const FLOOR_SERVICE = fileURLToPath(new URL("./floor-service.mjs", import.meta.url));

/** Starts the floor; `stock` units of every seeded product are put on hand first; `env` is added to every process's. */
export async function startFloorMesh({ stock = 1_000_000, env = {} } = {}) {
  const certificates = await createTestCertificates([...SERVICES, "gateway"]);
  const rabbit = rabbitTestScope("bench-floor");
  const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (name) => [name, await freePort()])));
  const address = (name) => `127.0.0.1:${ports[name]}`;
  const databases = Object.fromEntries(await Promise.all(SERVICES.map(async (name) => [name, await createTestDatabase(`floor_${name}`)])));
  const processes = {};
  const stop = async () => {
    await Promise.all(Object.values(processes).map(({ child }) => stopChild(child)));
    await Promise.all(Object.values(databases).map((d) => d.drop().catch(() => undefined)));
    await rabbit.cleanup().catch(() => undefined);
    await certificates.remove();
  };
  try {
    await Promise.all(SERVICES.map((name) => applyMigrations(databases[name].url, join(repoRoot, "services", name, "migrations"))));
    const inventory = new pg.Client({ connectionString: databases.inventory.url });
    await inventory.connect();
    await inventory.query("UPDATE products SET on_hand = $1, reserved = 0", [stock]);
    await inventory.end();
    // The relay and notification start on the broker before the first order is placed.
    for (const name of ["notification", "inventory", "payment", "order"]) {
      const child = spawn(process.execPath, [FLOOR_SERVICE, name], {
        cwd: repoRoot,
        env: {
          ...process.env,
          PORT: String(ports[name]),
          CERTS_DIR: certificates.dir,
          DATABASE_URL: databases[name].url,
          AMQP_URL: rabbit.url,
          AMQP_PREFIX: rabbit.prefix,
          INVENTORY_URL: address("inventory"),
          PAYMENT_URL: address("payment"),
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const output = [];
      processes[name] = { child, port: ports[name], output };
      await new Promise((resolve, reject) => {
        child.stderr.on("data", (chunk) => output.push(chunk.toString()));
        child.stdout.on("data", (chunk) => {
          output.push(chunk.toString());
          if (output.join("").includes("ready\n")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`floor ${name} exited with ${code}:\n${output.join("").slice(-2000)}`)));
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { processes, address, databases, certsDir: certificates.dir, stop };
}
