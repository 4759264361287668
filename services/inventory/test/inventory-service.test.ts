import { create, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import {
  GetProductRequestSchema,
  InventoryService,
  ListProductsRequestSchema,
  ReserveStockRequestSchema,
  RestockProductRequestSchema,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { badRequest, errorInfo } from "@shop/platform";
import { requestCheck } from "@shop/platform/validation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInventoryService } from "../src/inventory-service.js";
import { InventoryStore } from "../src/store.js";
import { addProduct, type EngineDatabase, engines, reservationId } from "./engines.js";

/** The handlers called directly, on an in-memory PGlite database. */
describe("InventoryService handlers", () => {
  let handle: EngineDatabase;
  let service: ReturnType<typeof createInventoryService>;
  beforeAll(async () => {
    handle = await engines[0]!.open();
    service = createInventoryService({ store: new InventoryStore(handle.db), defaultTtlMs: 15 * 60_000 });
  });
  afterAll(async () => {
    await handle?.dispose();
  });

  const ctx = (method: DescMethod) =>
    createHandlerContext({
      service: InventoryService,
      method,
      protocolName: "grpc",
      requestMethod: "POST",
      url: `/${InventoryService.typeName}/${method.name}`,
    });
  const fail = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.fail("expected an error"),
      (e: unknown) => ConnectError.from(e),
    );
  const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((v) => v.field);

  it("returns NOT_FOUND with reason PRODUCT_NOT_FOUND for an unknown SKU", async () => {
    const error = await fail(
      Promise.resolve(
        service.getProduct(create(GetProductRequestSchema, { sku: "SKU-NOPE-000" }), ctx(InventoryService.method.getProduct)),
      ),
    );
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
  });

  it("pages through the catalogue in SKU order with opaque tokens", async () => {
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await service.listProducts(
        create(ListProductsRequestSchema, { pageSize: 5, pageToken }),
        ctx(InventoryService.method.listProducts),
      );
      expect(page.products!.length).toBeLessThanOrEqual(5);
      seen.push(...page.products!.map((p) => p.sku!));
      pageToken = page.nextPageToken ?? "";
      pages++;
    } while (pageToken);
    expect(seen.length).toBeGreaterThanOrEqual(12);
    expect(pages).toBe(Math.ceil(seen.length / 5));
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("caps the page size at 100 and uses 20 when none is given", async () => {
    // More products than the largest page, so both limits are what stops the page, not the catalogue's end.
    await handle.db.query(
      `INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand)
       SELECT 'SKU-PAGE-' || lpad(n::text, 3, '0'), 'Page filler ' || n, 'test product', 'EUR', 100, 1 FROM generate_series(1, 120) AS n`,
    );
    const page = await service.listProducts(create(ListProductsRequestSchema, {}), ctx(InventoryService.method.listProducts));
    expect(page.products).toHaveLength(20);
    expect(page.nextPageToken).not.toBe("");
    const capped = await service.listProducts(
      create(ListProductsRequestSchema, { pageSize: 1000 }),
      ctx(InventoryService.method.listProducts),
    );
    expect(capped.products).toHaveLength(100);
    expect(capped.nextPageToken).not.toBe("");
  });

  it("rejects a page token it did not issue and a negative page size with INVALID_ARGUMENT", async () => {
    const token = await fail(
      Promise.resolve(
        service.listProducts(create(ListProductsRequestSchema, { pageToken: "%%not-a-token" }), ctx(InventoryService.method.listProducts)),
      ),
    );
    expect(token.code).toBe(Code.InvalidArgument);
    expect(fields(token)).toEqual(["page_token"]);
    const size = await fail(
      Promise.resolve(service.listProducts(create(ListProductsRequestSchema, { pageSize: -1 }), ctx(InventoryService.method.listProducts))),
    );
    expect(fields(size)).toEqual(["page_size"]);
  });

  /** What the platform answers before the handler runs: the request's buf.validate rules. */
  const refusedByContract = <Desc extends DescMessage>(schema: Desc, request: MessageShape<Desc>) =>
    requestCheck(schema)(request) ?? expect.fail("expected the contract to refuse the request");

  it("the contract refuses a reservation without id or lines, naming each field", () => {
    const error = refusedByContract(ReserveStockRequestSchema, create(ReserveStockRequestSchema, {}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["reservation_id", "lines"]);
  });

  it("the contract refuses blank SKUs, repeated SKUs, quantities below 1 and a negative TTL", () => {
    const request = create(ReserveStockRequestSchema, {
      reservationId: reservationId(),
      lines: [
        { sku: "SKU-MUG-001", quantity: 1 },
        { sku: "", quantity: 1 },
        { sku: "SKU-MUG-001", quantity: 0 },
      ],
      ttl: { seconds: -5n },
    });
    const error = refusedByContract(ReserveStockRequestSchema, request);
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["lines", "lines[1].sku", "lines[2].quantity", "ttl"]);
  });

  it("refuses a reservation it cannot fill with FAILED_PRECONDITION OUT_OF_STOCK naming the short SKUs", async () => {
    const sku = await addProduct(handle.db, 1);
    const request = create(ReserveStockRequestSchema, { reservationId: reservationId(), lines: [{ sku, quantity: 2 }] });
    const error = await fail(Promise.resolve(service.reserveStock(request, ctx(InventoryService.method.reserveStock))));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("OUT_OF_STOCK");
    expect(errorInfo(error)?.metadata.short_skus).toBe(sku);
  });

  it("holds for the default 15 minutes when no TTL is given", async () => {
    const sku = await addProduct(handle.db, 1);
    const request = create(ReserveStockRequestSchema, { reservationId: reservationId(), lines: [{ sku, quantity: 1 }] });
    const { reservation } = await service.reserveStock(request, ctx(InventoryService.method.reserveStock));
    const seconds = Number(reservation!.expireTime!.seconds! - reservation!.createTime!.seconds!);
    expect(seconds).toBeGreaterThanOrEqual(15 * 60 - 1);
    expect(seconds).toBeLessThanOrEqual(15 * 60 + 1);
  });

  it("rejects a restock of fewer than one unit and reports an unknown SKU as PRODUCT_NOT_FOUND", async () => {
    const invalid = refusedByContract(
      RestockProductRequestSchema,
      create(RestockProductRequestSchema, { sku: "SKU-MUG-001", quantity: 0 }),
    );
    expect(fields(invalid)).toEqual(["quantity"]);
    const unknown = await fail(
      Promise.resolve(
        service.restockProduct(
          create(RestockProductRequestSchema, { sku: "SKU-NOPE-001", quantity: 1 }),
          ctx(InventoryService.method.restockProduct),
        ),
      ),
    );
    expect(errorInfo(unknown)?.reason).toBe("PRODUCT_NOT_FOUND");
  });
});
