import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** dist/main.js as `npm start` runs it: its own PostgreSQL database, migrations found beside dist. */
describe("inventory main process", () => {
  let database: TestDatabase;
  let child: ChildProcess;
  let client: GrpcClient<typeof InventoryService>;
  const output: string[] = [];
  beforeAll(async () => {
    database = await createTestDatabase("inventory_main");
    const [port, adminPort] = [await freePort(), await freePort()];
    child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        INVENTORY_PORT: `${port}`,
        INVENTORY_ADMIN_PORT: `${adminPort}`,
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        DATABASE_URL: database.url,
        INVENTORY_EXPIRY_SWEEP_MS: "50",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    for (let ready = false; !ready; await new Promise((r) => setTimeout(r, 100))) {
      if (child.exitCode !== null) throw new Error(`inventory exited: ${output.join("")}`);
      ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    }
    client = createClient(InventoryService, `127.0.0.1:${port}`, { retry: false, breaker: false });
  });
  afterAll(async () => {
    client?.close();
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    await database?.drop();
  });

  it("serves the seeded catalogue from its migrations", async () => {
    const { products } = await client.listProducts({ pageSize: 100 });
    expect(products).toHaveLength(12);
  });

  it("gives the stock of an overdue hold back by itself, through the periodic sweep", async () => {
    const sku = "SKU-LMP-010";
    const before = (await client.getProduct({ sku })).product!.availableQuantity;
    const { reservation } = await client.reserveStock({ reservationId: `main-${Date.now()}`, lines: [{ sku, quantity: 2 }], ttl: { nanos: 100_000_000 } });
    expect((await client.getProduct({ sku })).product!.availableQuantity).toBe(before - 2);
    const deadline = Date.now() + 5_000;
    let available = before - 2;
    while (available !== before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      available = (await client.getProduct({ sku })).product!.availableQuantity;
    }
    expect(available).toBe(before); // only the sweep expires holds: reads never do
    const again = await client.reserveStock({ reservationId: reservation!.reservationId, lines: [{ sku, quantity: 2 }] });
    expect(again.reservation?.state).toBe(ReservationState.EXPIRED);
  });

  it("stops cleanly on SIGTERM", async () => {
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });
});
