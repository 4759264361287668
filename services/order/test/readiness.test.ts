// /readyz answers 503 while a dependency a service cannot work without is down — its database for every
// service, and RabbitMQ for notification — and 200 again once it is back. The database is taken away for
// real: new connections refused (ALLOW_CONNECTIONS false) and the service's open ones terminated.
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { rabbitTestScope, TEST_AMQP_URL } from "@shop/platform/testing/rabbitmq";
import { ServiceProcess } from "@shop/platform/testing/service-process";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DomainMesh, startDomainMesh } from "./mesh-harness.js";

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

let mesh: DomainMesh;
beforeAll(async () => {
  mesh = await startDomainMesh();
}, 120_000);
afterAll(async () => {
  await mesh?.close();
}, 60_000);

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Refuses new connections to the database and ends the open ones; `restore` lets them in again. */
async function takeDown(url: string): Promise<{ restore(): Promise<void> }> {
  const name = new URL(url).pathname.slice(1);
  await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
  await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
  return { restore: () => admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`) };
}

const readyz = (adminPort: number) =>
  fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
    (response) => response.status,
    () => 0,
  );

/** Polls /readyz until it answers `status`; fails after `timeoutMs`. */
async function readyzBecomes(adminPort: number, status: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await readyz(adminPort);
    if (last === status) return;
    if (Date.now() > deadline) throw new Error(`/readyz answered ${last}, not ${status}, for ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("/readyz when a service's database is down", () => {
  for (const name of ["inventory", "payment", "notification", "order"] as const) {
    it(`${name}: 503 while its database refuses connections, 200 once it is back`, async () => {
      const service = mesh[name];
      expect(await readyz(service.adminPort)).toBe(200);
      const outage = await takeDown(mesh.databases[name]);
      try {
        await readyzBecomes(service.adminPort, 503);
      } finally {
        await outage.restore();
      }
      await readyzBecomes(service.adminPort, 200);
    }, 90_000);
  }
});

/** A TCP relay to RabbitMQ that the test can cut: `down()` closes every connection and stops listening. */
async function brokerRelay(): Promise<{ port: number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    server = createServer((client) => {
      const broker = new URL(TEST_AMQP_URL);
      const upstream = connect(Number(broker.port || 5672), broker.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    server.listen(port, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as { port: number }).port;
  };
  const down = async () => {
    const closing = server ? new Promise((resolve) => server?.close(resolve)) : Promise.resolve();
    for (const socket of sockets) socket.destroy();
    await closing;
    server = undefined;
  };
  await listen();
  return { port, down, up: listen, close: down };
}

describe("/readyz when RabbitMQ is out of notification's reach", () => {
  let relay: Awaited<ReturnType<typeof brokerRelay>>;
  let database: TestDatabase;
  let notification: ServiceProcess;
  const rabbit = rabbitTestScope("test-ready");

  beforeAll(async () => {
    relay = await brokerRelay();
    database = await createTestDatabase("ready");
    notification = new ServiceProcess("notification", {
      envPrefix: "NOTIFICATION",
      main: `${repoRoot}services/notification/dist/main.js`,
      cwd: repoRoot,
      env: {
        NOTIFICATION_DATABASE_URL: database.url,
        AMQP_URL: Object.assign(new URL(TEST_AMQP_URL), { hostname: "127.0.0.1", port: String(relay.port) }).toString(),
        AMQP_PREFIX: rabbit.prefix,
      },
    });
    await notification.start();
  }, 90_000);
  afterAll(async () => {
    await notification?.stop();
    await relay?.close();
    await database?.drop();
    await rabbit.cleanup();
  }, 60_000);

  it("answers 503 while the broker is unreachable and 200 once the consumer is back", async () => {
    expect(await readyz(notification.adminPort)).toBe(200);
    await relay.down();
    try {
      await readyzBecomes(notification.adminPort, 503);
    } finally {
      await relay.up();
    }
    await readyzBecomes(notification.adminPort, 200);
  }, 90_000);
});
