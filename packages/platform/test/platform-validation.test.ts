import type { ServiceImpl } from "@connectrpc/connect";
import { Code, type ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { badRequest, createClient, type GrpcClient, openAccess, type RunningServer, service } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { CLIENT_TRANSPORTS, startServer, testInventory } from "./inventory-fixture.js";

/** Through a real grpc-js server: the request's buf.validate rules run after access control and before the handler. */
describe.each(CLIENT_TRANSPORTS)("request validation in serve() (%s client)", (transport) => {
  let server: RunningServer;
  let client: GrpcClient<typeof InventoryService>;
  let health: GrpcClient<typeof Health>;
  const reached: string[] = [];

  beforeAll(async () => {
    const impl = testInventory({
      async reserveStock({ reservationId }) {
        reached.push(reservationId);
        return {};
      },
    }) as ServiceImpl<typeof InventoryService>;
    server = await startServer([service(InventoryService, impl, openAccess(InventoryService))], {}, { GRPC_MAX_MESSAGE_BYTES: "65536" });
    client = createClient(InventoryService, server.address, { transport, ...callingAs("order"), breaker: false, retry: false });
    health = createClient(Health, server.address, { transport, ...callingAs("order"), breaker: false });
  });
  afterAll(async () => {
    client.close();
    health.close();
    await server.shutdown();
  });

  it("answers INVALID_ARGUMENT with a BadRequest and never runs the handler", async () => {
    const error = (await client.reserveStock({ reservationId: "r\u0000", lines: [] }).catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.InvalidArgument);
    expect(badRequest(error)?.fieldViolations.map((v) => v.field)).toEqual(["reservation_id", "lines"]);
    expect(reached).toEqual([]);
  });

  it("lets a valid request through", async () => {
    await client.reserveStock({ reservationId: "r-1", lines: [{ sku: "SKU-1", quantity: 1 }] });
    expect(reached).toEqual(["r-1"]);
  });

  it("refuses a request over GRPC_MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED, and keeps serving", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => ({ sku: `SKU-${i}-${"x".repeat(50)}`, quantity: 1 }));
    const error = (await client
      .reserveStock({ reservationId: "r-2", lines: [...lines, { sku: "y".repeat(70_000), quantity: 1 }] })
      .catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.ResourceExhausted);
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });
});
