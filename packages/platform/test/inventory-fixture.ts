import type { ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { loadServiceConfig, notFound, type RunningServer, type ServeOptions, type ServiceRegistration, serve } from "../src/index.js";

/** A tiny in-memory InventoryService: SKU-1 exists, "boom" throws an unexpected error. */
export function testInventory(
  overrides: Partial<ServiceImpl<typeof InventoryService>> = {},
): Partial<ServiceImpl<typeof InventoryService>> {
  return {
    async getProduct({ sku }) {
      if (sku === "boom") throw new Error("database password is hunter2");
      if (sku !== "SKU-1") throw notFound("PRODUCT_NOT_FOUND", { type: "product", name: sku }, { sku });
      return { product: { sku, name: "Enamel mug", price: { currencyCode: "EUR", amountMinor: 1250n }, availableQuantity: 7 } };
    },
    ...overrides,
  };
}

/** Starts a platform server on ephemeral ports, quiet, without signal handlers. */
export async function startServer(
  registrations: ServiceRegistration[],
  options: ServeOptions = {},
  env: Record<string, string> = {},
): Promise<RunningServer> {
  const config = loadServiceConfig(
    "inventory",
    { port: 0, adminPort: 0 },
    {
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      HANDLE_SIGNALS: "false",
      READINESS_INTERVAL_MS: "100",
      SHUTDOWN_GRACE_MS: "2000",
      ...env,
    },
  );
  return serve(config, registrations, options);
}

/** The InventoryService registration with the test implementation. */
export function inventoryRegistration(overrides: Partial<ServiceImpl<typeof InventoryService>> = {}): ServiceRegistration {
  return [InventoryService, testInventory(overrides)];
}
