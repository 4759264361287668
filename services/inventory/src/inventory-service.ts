import type { ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { notFound, pagination } from "@shop/platform";
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

/** The InventoryService handlers. Requests reach them checked against their buf.validate rules. */
export function createInventoryService(deps: InventoryDeps): ServiceImpl<typeof InventoryService> {
  const { store } = deps;
  return {
    async getProduct({ sku }) {
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
      const ttlMs = ttl ? Number(ttl.seconds) * 1000 + Math.floor(ttl.nanos / 1e6) : deps.defaultTtlMs;
      const reservation = await store.reserve(
        reservationId,
        lines.map(({ sku, quantity }) => ({ sku, quantity })),
        ttlMs,
      );
      return { reservation };
    },

    async commitReservation({ reservationId }) {
      return { reservation: await store.commit(reservationId) };
    },

    async releaseReservation({ reservationId }) {
      return { reservation: await store.release(reservationId) };
    },

    async restockProduct({ sku, quantity }) {
      const product = await store.restock(sku, quantity);
      if (!product) throw notFound("PRODUCT_NOT_FOUND", { type: "shop.inventory.v1.Product", name: sku }, { sku });
      return { product };
    },
  };
}
