import { fileURLToPath } from "node:url";
import { type Client, Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { ReservationState } from "@shop/contracts/shop/inventory/v1/reservation_pb";
import { badRequest, errorInfo } from "@shop/platform";
import { type Database, openDatabase } from "@shop/platform/database";
import { refusal } from "@shop/platform/testing/errors";
import { validateRequests } from "@shop/platform/validation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInventoryService } from "../src/inventory-service.js";
import { InventoryStore } from "../src/store.js";

/**
 * The inventory handlers over their real store on an in-memory PGlite database, called through a
 * Connect client over an in-memory router transport: requests, responses and errors (with their
 * google.rpc details) are serialized as they are on the wire, without a server process.
 */
const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));
const SEEDED = 12;
const BULK = 100;

let db: Database;
let inventory: Client<typeof InventoryService>;

beforeAll(async () => {
  db = await openDatabase({ migrationsDir });
  const impl = createInventoryService({ store: new InventoryStore(db), defaultTtlMs: 60_000 });
  inventory = createClient(
    InventoryService,
    createRouterTransport(({ service }) => service(InventoryService, impl), { router: { interceptors: [validateRequests] } }),
  );
  // A catalogue larger than the largest page: the 12 seeded products and 100 more.
  await db.query(
    `INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand)
     SELECT 'SKU-BULK-' || lpad(n::text, 3, '0'), 'Bulk ' || n, 'a bulk product', 'EUR', 100 + n, 10 FROM generate_series(1, $1) AS n`,
    [BULK],
  );
});

afterAll(async () => {
  await db?.close();
});

let counter = 0;

/** A product of the test's own, so its stock arithmetic is exact. */
async function addProduct(onHand: number, priceMinor = 1000n): Promise<string> {
  const sku = `SKU-HT-${++counter}`;
  await db.query(
    "INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand) VALUES ($1, $2, 'test', 'EUR', $3, $4)",
    [sku, `Handler test product ${counter}`, priceMinor.toString(), onHand],
  );
  return sku;
}

function reservationId(): string {
  return `res-ht-${++counter}`;
}

async function available(sku: string): Promise<number | undefined> {
  return (await inventory.getProduct({ sku })).product?.availableQuantity;
}

const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((violation) => violation.field);

/** Walks a List method page by page until the last page; returns the items in order and the page count. */
async function walk<T>(
  list: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await list(pageToken);
    items.push(...page.items);
    pageToken = page.nextPageToken;
    pages += 1;
    if (pages > 100) throw new Error("pagination does not end");
  } while (pageToken !== "");
  return { items, pages };
}

/** A page token with its decoded JSON parts edited: a token this service never issued. */
function tampered(token: string, edit: (parts: unknown[]) => unknown[]): string {
  const parts = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
  return Buffer.from(JSON.stringify(edit(parts))).toString("base64url");
}

describe("GetProduct through an in-memory Connect transport", () => {
  it("returns the product with its price in minor units and what is available", async () => {
    const { product } = await inventory.getProduct({ sku: "SKU-MUG-001" });
    expect(product?.name).toBe("Enamel mug");
    expect(product?.price).toMatchObject({ currencyCode: "EUR", amountMinor: 1299n });
    expect(product?.availableQuantity).toBe(120);
  });

  it("returns NOT_FOUND with reason PRODUCT_NOT_FOUND and the SKU for an unknown SKU", async () => {
    const error = await refusal(inventory.getProduct({ sku: "SKU-NOPE-404" }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
    expect(errorInfo(error)?.domain).toBe("shop.mesh");
    expect(errorInfo(error)?.metadata.sku).toBe("SKU-NOPE-404");
  });

  it("returns INVALID_ARGUMENT with a sku field violation when no SKU is given", async () => {
    const error = await refusal(inventory.getProduct({ sku: "" }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["sku"]);
  });
});

describe("ListProducts through an in-memory Connect transport", () => {
  it("returns every product exactly once, in SKU order, across pages", async () => {
    const { rows } = await db.query<{ sku: string }>("SELECT sku FROM products ORDER BY sku");
    const { items, pages } = await walk(async (pageToken) => {
      const page = await inventory.listProducts({ pageSize: 7, pageToken });
      expect(page.products.length).toBeLessThanOrEqual(7);
      return { items: page.products.map((product) => product.sku), nextPageToken: page.nextPageToken };
    });
    expect(items).toEqual(rows.map((row) => row.sku));
    expect(items.length).toBeGreaterThanOrEqual(SEEDED + BULK);
    expect(pages).toBe(Math.ceil(rows.length / 7));
  });

  it("serves 20 products for page_size 0 and at most 100 for a larger page_size", async () => {
    const byDefault = await inventory.listProducts({ pageSize: 0 });
    expect(byDefault.products).toHaveLength(20);
    expect(byDefault.nextPageToken).not.toBe("");
    const capped = await inventory.listProducts({ pageSize: 5000 });
    expect(capped.products).toHaveLength(100);
    expect(capped.nextPageToken).not.toBe("");
  });

  it("returns INVALID_ARGUMENT with a page_size field violation for a negative page_size", async () => {
    const error = await refusal(inventory.listProducts({ pageSize: -1 }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["page_size"]);
  });

  it("returns INVALID_ARGUMENT with a page_token field violation for garbage, truncated and forged tokens", async () => {
    const { nextPageToken } = await inventory.listProducts({ pageSize: 3 });
    const forged = [
      "%%not-a-token",
      "bm90LWpzb24",
      nextPageToken.slice(0, -4),
      tampered(nextPageToken, ([, digest, sku]) => ["p0", digest, sku]),
      tampered(nextPageToken, ([version, , sku]) => [version, "another-query", sku]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, ""]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, 42]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, "SKU-\u0000"]),
      tampered(nextPageToken, ([version, digest, sku]) => [version, digest, sku, "extra"]),
    ];
    for (const pageToken of forged) {
      const error = await refusal(inventory.listProducts({ pageSize: 3, pageToken }));
      expect(error.code, pageToken).toBe(Code.InvalidArgument);
      expect(fields(error), pageToken).toEqual(["page_token"]);
    }
  });

  it("accepts a page token from any caller: the catalogue is public and has no filters to bind it to", async () => {
    const first = await inventory.listProducts({ pageSize: 3 }, { headers: { "x-user-id": "ada" } });
    const asBob = await inventory.listProducts({ pageSize: 3, pageToken: first.nextPageToken }, { headers: { "x-user-id": "bob" } });
    const anonymous = await inventory.listProducts({ pageSize: 3, pageToken: first.nextPageToken });
    expect(asBob.products.map((p) => p.sku)).toEqual(anonymous.products.map((p) => p.sku));
    expect(asBob.products[0]!.sku > first.products[2]!.sku).toBe(true);
  });
});

describe("ReserveStock through an in-memory Connect transport", () => {
  it("holds every line, priced by the catalogue, and lowers what is available", async () => {
    const mugs = await addProduct(10, 1999n);
    const caps = await addProduct(5, 250n);
    const id = reservationId();
    const lines = [
      { sku: caps, quantity: 2 },
      { sku: mugs, quantity: 3 },
    ];
    const { reservation } = await inventory.reserveStock({ reservationId: id, lines });
    expect(reservation?.reservationId).toBe(id);
    expect(reservation?.state).toBe(ReservationState.HELD);
    expect(reservation?.lines.map((line) => [line.sku, line.quantity, line.unitPrice?.amountMinor, line.productName !== ""])).toEqual(
      [
        [mugs, 3, 1999n, true],
        [caps, 2, 250n, true],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(await available(mugs)).toBe(7);
    expect(await available(caps)).toBe(3);
  });

  it("honours the requested ttl", async () => {
    const sku = await addProduct(1);
    const request = { reservationId: reservationId(), lines: [{ sku, quantity: 1 }], ttl: { seconds: 90n } };
    const { reservation } = await inventory.reserveStock(request);
    expect(Number(reservation!.expireTime!.seconds - reservation!.createTime!.seconds)).toBeGreaterThanOrEqual(89);
    expect(Number(reservation!.expireTime!.seconds - reservation!.createTime!.seconds)).toBeLessThanOrEqual(91);
  });

  it("answers a repeated reservation id with the same lines with the same reservation, holding once", async () => {
    const sku = await addProduct(4);
    const id = reservationId();
    const first = await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 3 }] });
    const again = await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 3 }] });
    expect(again.reservation).toEqual(first.reservation);
    expect(await available(sku)).toBe(1);
  });

  it("returns ALREADY_EXISTS with reason RESERVATION_ID_REUSED for a reservation id reused with other lines", async () => {
    const sku = await addProduct(4);
    const id = reservationId();
    await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 1 }] });
    const error = await refusal(inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 2 }] }));
    expect(error.code).toBe(Code.AlreadyExists);
    expect(errorInfo(error)?.reason).toBe("RESERVATION_ID_REUSED");
    expect(errorInfo(error)?.metadata.reservation_id).toBe(id);
    expect(await available(sku)).toBe(3);
  });

  it("returns FAILED_PRECONDITION with reason OUT_OF_STOCK naming the short SKUs, and holds no line", async () => {
    const plenty = await addProduct(10);
    const scarce = await addProduct(1);
    const error = await refusal(
      inventory.reserveStock({
        reservationId: reservationId(),
        lines: [
          { sku: plenty, quantity: 5 },
          { sku: scarce, quantity: 2 },
        ],
      }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("OUT_OF_STOCK");
    expect(errorInfo(error)?.metadata.short_skus).toBe(scarce);
    expect(await available(plenty)).toBe(10);
    expect(await available(scarce)).toBe(1);
  });

  it("returns NOT_FOUND with reason PRODUCT_NOT_FOUND for an unknown SKU, and holds no line", async () => {
    const sku = await addProduct(10);
    const error = await refusal(
      inventory.reserveStock({
        reservationId: reservationId(),
        lines: [
          { sku, quantity: 1 },
          { sku: "SKU-NOPE-405", quantity: 1 },
        ],
      }),
    );
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
    expect(await available(sku)).toBe(10);
  });

  it("returns INVALID_ARGUMENT with a field violation for each bad field", async () => {
    const empty = await refusal(inventory.reserveStock({}));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(fields(empty)).toEqual(["reservation_id", "lines"]);

    const sku = await addProduct(10);
    const bad = await refusal(
      inventory.reserveStock({
        reservationId: reservationId(),
        lines: [
          { sku, quantity: 1 },
          { sku: "", quantity: 1 },
          { sku, quantity: 0 },
        ],
        ttl: { seconds: 25n * 3600n },
      }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    // The repeated SKU is the list's fault (its unique-SKU rule), not one line's.
    expect(fields(bad)).toEqual(["lines", "lines[1].sku", "lines[2].quantity", "ttl"]);
    expect(await available(sku)).toBe(10);
  });
});

describe("CommitReservation through an in-memory Connect transport", () => {
  it("turns a HELD reservation into a sale; a repeated commit is a no-op", async () => {
    const sku = await addProduct(5);
    const id = reservationId();
    await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 2 }] });
    expect((await inventory.commitReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.COMMITTED);
    expect((await inventory.commitReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.COMMITTED);
    expect(await available(sku)).toBe(3);
    const { rows } = await db.query<{ on_hand: number; reserved: number }>("SELECT on_hand, reserved FROM products WHERE sku = $1", [sku]);
    expect(rows[0]).toEqual({ on_hand: 3, reserved: 0 });
  });

  it("returns FAILED_PRECONDITION with reason RESERVATION_NOT_HELD for a released reservation", async () => {
    const sku = await addProduct(5);
    const id = reservationId();
    await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 2 }] });
    await inventory.releaseReservation({ reservationId: id });
    const error = await refusal(inventory.commitReservation({ reservationId: id }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("RESERVATION_NOT_HELD");
    expect(errorInfo(error)?.metadata).toMatchObject({ reservation_id: id, state: "RELEASED" });
    expect(await available(sku)).toBe(5);
  });

  it("returns FAILED_PRECONDITION for a reservation past its ttl, and gives its stock back", async () => {
    const sku = await addProduct(3);
    const id = reservationId();
    await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 3 }], ttl: { nanos: 20_000_000 } });
    expect(await available(sku)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const error = await refusal(inventory.commitReservation({ reservationId: id }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.metadata.state).toBe("EXPIRED");
    expect(await available(sku)).toBe(3);
  });

  it("returns NOT_FOUND with reason RESERVATION_NOT_FOUND for an unknown reservation", async () => {
    const error = await refusal(inventory.commitReservation({ reservationId: reservationId() }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("RESERVATION_NOT_FOUND");
  });

  it("returns INVALID_ARGUMENT with a reservation_id field violation when none is given", async () => {
    const error = await refusal(inventory.commitReservation({}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["reservation_id"]);
  });
});

describe("ReleaseReservation through an in-memory Connect transport", () => {
  it("gives HELD stock back; a repeated release is a no-op", async () => {
    const sku = await addProduct(5);
    const id = reservationId();
    await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 4 }] });
    expect((await inventory.releaseReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.RELEASED);
    expect((await inventory.releaseReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.RELEASED);
    expect(await available(sku)).toBe(5);
  });

  it("restocks a COMMITTED reservation (a cancelled sale)", async () => {
    const sku = await addProduct(5);
    const id = reservationId();
    await inventory.reserveStock({ reservationId: id, lines: [{ sku, quantity: 2 }] });
    await inventory.commitReservation({ reservationId: id });
    expect(await available(sku)).toBe(3);
    expect((await inventory.releaseReservation({ reservationId: id })).reservation?.state).toBe(ReservationState.RELEASED);
    expect(await available(sku)).toBe(5);
  });

  it("answers an unknown reservation with no reservation rather than an error", async () => {
    const response = await inventory.releaseReservation({ reservationId: reservationId() });
    expect(response.reservation).toBeUndefined();
  });

  it("returns INVALID_ARGUMENT with a reservation_id field violation when none is given", async () => {
    const error = await refusal(inventory.releaseReservation({}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["reservation_id"]);
  });
});

describe("RestockProduct through an in-memory Connect transport", () => {
  it("adds units to what is on hand", async () => {
    const sku = await addProduct(2);
    const { product } = await inventory.restockProduct({ sku, quantity: 5 });
    expect(product?.availableQuantity).toBe(7);
    expect(await available(sku)).toBe(7);
  });

  it("returns INVALID_ARGUMENT with a field violation for a missing SKU and a quantity below 1", async () => {
    const error = await refusal(inventory.restockProduct({ sku: "", quantity: 0 }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["sku", "quantity"]);
  });

  it("returns FAILED_PRECONDITION with reason STOCK_LIMIT_EXCEEDED for more stock than the counter holds, changing nothing", async () => {
    const sku = await addProduct(2);
    const error = await refusal(inventory.restockProduct({ sku, quantity: 2147483647 }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(error)?.reason).toBe("STOCK_LIMIT_EXCEEDED");
    expect(errorInfo(error)?.metadata.sku).toBe(sku);
    expect(await available(sku)).toBe(2);
    expect((await inventory.restockProduct({ sku, quantity: 2147483645 })).product?.availableQuantity).toBe(2147483647);
  });

  it("returns NOT_FOUND with reason PRODUCT_NOT_FOUND for an unknown SKU", async () => {
    const error = await refusal(inventory.restockProduct({ sku: "SKU-NOPE-406", quantity: 1 }));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
  });
});
