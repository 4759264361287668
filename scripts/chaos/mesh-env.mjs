// The environment of one private mesh on this machine — free ports for every service, a PostgreSQL database
// each, a RabbitMQ name prefix — so `npm run chaos` and the tests of `npm start` run the real processes beside
// anything else on the box (another mesh, other test runs) without touching its ports, data or queues.
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import pg from "pg";

export const SERVICES = ["inventory", "payment", "notification", "order", "gateway"];
const DATABASE_SERVICES = ["inventory", "payment", "notification", "order"];
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** `count` ports the kernel says are free now (bound to 0 and released). */
export async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A private mesh's settings: `env` for every process (ports, upstream addresses, databases, AMQP prefix,
 * plus `extra`), the ports and database URLs by service, and `drop()` to remove its databases.
 */
export async function createMeshEnv({ label = "mesh", extra = {} } = {}) {
  const id = randomBytes(4).toString("hex");
  const ports = await freePorts(SERVICES.length * 2);
  const byService = Object.fromEntries(SERVICES.map((name, i) => [name, { port: ports[2 * i], adminPort: ports[2 * i + 1] }]));
  const databases = {};
  for (const name of DATABASE_SERVICES) {
    const database = `${label}_${name}_${id}`;
    await admin(`CREATE DATABASE ${database}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${database}`;
    databases[name] = url.toString();
  }
  const env = { HOST: "127.0.0.1", AMQP_PREFIX: `${label}-${id}.`, ...extra };
  for (const name of SERVICES) {
    const prefix = name.toUpperCase();
    env[`${prefix}_PORT`] = String(byService[name].port);
    env[`${prefix}_ADMIN_PORT`] = String(byService[name].adminPort);
    if (name !== "gateway") env[`${prefix}_URL`] = `127.0.0.1:${byService[name].port}`;
  }
  for (const name of DATABASE_SERVICES) env[`${name.toUpperCase()}_DATABASE_URL`] = databases[name];
  return {
    id,
    env,
    ports: byService,
    databases,
    amqpPrefix: env.AMQP_PREFIX,
    async drop() {
      for (const url of Object.values(databases)) await admin(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
    },
  };
}
