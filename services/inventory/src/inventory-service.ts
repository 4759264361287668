import type { ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { type FieldViolation, invalidArgument, notFound, pagination } from "@shop/platform";
import type { InventoryStore } from "./store.js";

/** What the inventory handlers need. */
export interface InventoryDeps {
  store: InventoryStore;
  /** How long a reservation holds when the caller does not say. */
  defaultTtlMs: number;
}

/** ListProducts pages by SKU. A SKU from a token is caller input: PostgreSQL text cannot hold NUL. */
const listPages = pagination<string>({
  method: InventoryService.method.listProducts,
  key: { encode: (sku) => [sku], decode: ([sku]) => (sku && !sku.includes("\u0000") ? sku : undefined) },
});
const MAX_TTL_MS = 24 * 60 * 60 * 1000;

/** The InventoryService handlers. */
export function createInventoryService(deps: InventoryDeps): ServiceImpl<typeof InventoryService> {
  const { store } = deps;
  return {
    async getProduct({ sku }) {
      if (!sku) throw invalidArgument([{ field: "sku", description: "must be set" }]);
      const product = await store.product(sku);
      if (!product) throw notFound("PRODUCT_NOT_FOUND", { type: "shop.inventory.v1.Product", name: sku }, { sku });
      return { product };
    },

    async listProducts(request) {
      const page = listPages.read(request);
      const { items, nextPageToken } = page.finish(await store.products(page.fetch, page.after), (product) => product.sku);
      return { products: items, nextPageToken };
    },

    async reserveStock({ reservationId, lines, ttl }) {
      const violations: FieldViolation[] = [];
      if (!reservationId) violations.push({ field: "reservation_id", description: "must be set" });
      if (lines.length === 0) violations.push({ field: "lines", description: "must contain at least one line" });
      const seen = new Set<string>();
      lines.forEach((line, i) => {
        if (!line.sku) violations.push({ field: `lines[${i}].sku`, description: "must be set" });
        if (seen.has(line.sku)) violations.push({ field: `lines[${i}].sku`, description: `"${line.sku}" appears more than once` });
        if (line.quantity < 1) violations.push({ field: `lines[${i}].quantity`, description: "must be at least 1" });
        seen.add(line.sku);
      });
      const ttlMs = ttl ? Number(ttl.seconds) * 1000 + Math.floor(ttl.nanos / 1e6) : deps.defaultTtlMs;
      if (ttlMs <= 0 || ttlMs > MAX_TTL_MS) violations.push({ field: "ttl", description: "must be between 1 ms and 24 h" });
      if (violations.length > 0) throw invalidArgument(violations);
      const reservation = await store.reserve(
        reservationId,
        lines.map(({ sku, quantity }) => ({ sku, quantity })),
        ttlMs,
      );
      return { reservation };
    },

    async commitReservation({ reservationId }) {
      if (!reservationId) throw invalidArgument([{ field: "reservation_id", description: "must be set" }]);
      return { reservation: await store.commit(reservationId) };
    },

    async releaseReservation({ reservationId }) {
      if (!reservationId) throw invalidArgument([{ field: "reservation_id", description: "must be set" }]);
      return { reservation: await store.release(reservationId) };
    },

    async restockProduct({ sku, quantity }) {
      const violations: FieldViolation[] = [];
      if (!sku) violations.push({ field: "sku", description: "must be set" });
      if (quantity < 1) violations.push({ field: "quantity", description: "must be at least 1" });
      if (violations.length > 0) throw invalidArgument(violations);
      const product = await store.restock(sku, quantity);
      if (!product) throw notFound("PRODUCT_NOT_FOUND", { type: "shop.inventory.v1.Product", name: sku }, { sku });
      return { product };
    },
  };
}
