import { Code, ConnectError } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { createClient, errorInfo, type GrpcClient, loadServiceConfig, type RunningServer, serve, service } from "@shop/platform";
import { callingAs, testCertificatesDir } from "@shop/platform/testing/certificates";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inventoryAccess } from "../src/access.js";
import { createInventoryService } from "../src/inventory-service.js";
import { InventoryStore } from "../src/store.js";
import { addProduct, type EngineDatabase, engines, reservationId } from "./engines.js";

/** A real grpc-js server on an ephemeral port, called through the platform's client. */
describe("InventoryService over the wire", () => {
  let handle: EngineDatabase;
  let server: RunningServer;
  let client: GrpcClient<typeof InventoryService>;
  beforeAll(async () => {
    handle = await engines[0]!.open();
    const config = loadServiceConfig(
      "inventory",
      { port: 0, adminPort: 0, certRoot: testCertificatesDir() },
      { HOST: "127.0.0.1", LOG_LEVEL: "silent", HANDLE_SIGNALS: "false" },
    );
    const store = new InventoryStore(handle.db);
    server = await serve(config, [service(InventoryService, createInventoryService({ store, defaultTtlMs: 60_000 }), inventoryAccess)], {
      readiness: { database: () => handle.db.ping() },
    });
    client = createClient(InventoryService, server.address, { ...callingAs("order", "inventory"), retry: false, breaker: false });
  });
  afterAll(async () => {
    client?.close();
    await server?.shutdown();
    await handle?.dispose();
  });

  it("lists the seeded catalogue with prices as int64 minor units", async () => {
    const { products } = await client.listProducts({ pageSize: 3 });
    expect(products.map((p) => p.sku)).toEqual(["SKU-BAG-004", "SKU-BLK-009", "SKU-BTL-007"]);
    expect(products[0]?.price).toMatchObject({ currencyCode: "EUR", amountMinor: 1599n });
  });

  it("reserves, commits, and releases a reservation; a repeat of each is answered the same", async () => {
    const sku = await addProduct(handle.db, 3);
    const id = reservationId();
    const reserved = await client.reserveStock({ reservationId: id, lines: [{ sku, quantity: 2 }], ttl: { seconds: 60n } });
    expect(reserved.reservation?.state).toBe(ReservationState.HELD);
    expect((await client.reserveStock({ reservationId: id, lines: [{ sku, quantity: 2 }] })).reservation).toEqual(reserved.reservation);
    expect((await client.getProduct({ sku })).product?.availableQuantity).toBe(1);
    expect((await client.commitReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.COMMITTED);
    expect((await client.commitReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.COMMITTED);
    expect((await client.releaseReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.RELEASED);
    expect((await client.getProduct({ sku })).product?.availableQuantity).toBe(3);
    expect((await client.releaseReservation({ reservationId: reservationId() })).reservation).toBeUndefined();
  });

  it("carries OUT_OF_STOCK with short_skus and PRODUCT_NOT_FOUND across the wire", async () => {
    const sku = await addProduct(handle.db, 0);
    const short = await client
      .reserveStock({ reservationId: reservationId(), lines: [{ sku, quantity: 1 }] })
      .catch((e: unknown) => ConnectError.from(e));
    expect(short).toBeInstanceOf(ConnectError);
    expect((short as ConnectError).code).toBe(Code.FailedPrecondition);
    expect(errorInfo(short)?.metadata.short_skus).toBe(sku);
    const missing = await client.getProduct({ sku: "SKU-NOPE-404" }).catch((e: unknown) => ConnectError.from(e));
    expect((missing as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(missing)?.reason).toBe("PRODUCT_NOT_FOUND");
  });

  it("reports ready on the admin port while its database answers", async () => {
    const response = await fetch(`http://127.0.0.1:${server.adminPort}/readyz`);
    expect(response.status).toBe(200);
  });
});
