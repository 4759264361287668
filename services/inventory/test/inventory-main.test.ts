import { fileURLToPath } from "node:url";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { ServiceProcess } from "@shop/platform/testing/service-process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

/** dist/main.js as `npm start` runs it: its own PostgreSQL database, migrations found beside dist. */
describe("inventory main process", () => {
  let database: TestDatabase;
  let service: ServiceProcess;
  let client: GrpcClient<typeof InventoryService>;
  beforeAll(async () => {
    database = await createTestDatabase("inventory_main");
    service = new ServiceProcess("inventory", {
      envPrefix: "INVENTORY",
      main,
      cwd: process.cwd(),
      env: { HOST: "127.0.0.1", INVENTORY_DATABASE_URL: database.url, INVENTORY_EXPIRY_SWEEP_MS: "50" },
    });
    await service.start();
    client = createClient(InventoryService, service.target, { retry: false, breaker: false });
  });
  afterAll(async () => {
    client?.close();
    await service?.kill9();
    await database?.drop();
  });

  it("serves the seeded catalogue from its migrations", async () => {
    const { products } = await client.listProducts({ pageSize: 100 });
    expect(products).toHaveLength(12);
  });

  it("gives the stock of an overdue hold back by itself, through the periodic sweep", async () => {
    const sku = "SKU-LMP-010";
    const before = (await client.getProduct({ sku })).product!.availableQuantity;
    const { reservation } = await client.reserveStock({
      reservationId: `main-${Date.now()}`,
      lines: [{ sku, quantity: 2 }],
      ttl: { nanos: 100_000_000 },
    });
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
    expect(await service.stop()).toBe(0);
  });
});
