import type { ServiceImpl } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, expect } from "vitest";
import {
  type ClientTransport,
  createClient,
  type GrpcClient,
  loadServiceConfig,
  notFound,
  openAccess,
  type RunningServer,
  type ServeOptions,
  type ServiceRegistration,
  serve,
  service,
} from "../src/index.js";
import { callingAs, testCertificatesDir } from "../src/testing/certificates.js";

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
    { port: 0, adminPort: 0, certRoot: testCertificatesDir() },
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

/** The InventoryService registration with the test implementation, open to every workload of the mesh. */
export function inventoryRegistration(overrides: Partial<ServiceImpl<typeof InventoryService>> = {}): ServiceRegistration {
  return service(InventoryService, testInventory(overrides) as ServiceImpl<typeof InventoryService>, openAccess(InventoryService));
}

/** Both transports a client's unary calls can run on: client tests run on each. */
export const CLIENT_TRANSPORTS: readonly ClientTransport[] = ["grpc-js", "http2"];

/** The test InventoryService and a client calling it as the gateway, started before and stopped after the suite. */
export function inventoryWithClient(transport: ClientTransport = "grpc-js"): {
  server: () => RunningServer;
  client: () => GrpcClient<typeof InventoryService>;
} {
  let server: RunningServer | undefined;
  let client: GrpcClient<typeof InventoryService> | undefined;
  beforeAll(async () => {
    server = await startServer([inventoryRegistration()]);
    client = createClient(InventoryService, server.address, { transport, ...callingAs("gateway"), breaker: false });
  });
  afterAll(async () => {
    client?.close();
    await server?.shutdown();
  });
  return {
    server: () => server ?? expect.unreachable("the inventory server has not started"),
    client: () => client ?? expect.unreachable("the inventory client has not started"),
  };
}
