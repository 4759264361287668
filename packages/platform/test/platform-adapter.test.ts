import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";
import { describe, expect, it } from "vitest";
import { createClient, errorInfo } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { CLIENT_TRANSPORTS, inventoryRegistration, inventoryWithClient, startServer } from "./inventory-fixture.js";

describe.each(CLIENT_TRANSPORTS)("typed adapter over grpc-js (%s client)", (transport) => {
  const inventory = inventoryWithClient(transport);

  it("answers a unary call with the typed response message", async () => {
    const response = await inventory.client().getProduct({ sku: "SKU-1" });
    expect(response.product?.name).toBe("Enamel mug");
    expect(response.product?.price?.amountMinor).toBe(1250n);
  });

  it("returns NOT_FOUND with the google.rpc details the handler raised", async () => {
    const error = await inventory
      .client()
      .getProduct({ sku: "SKU-404" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
    expect(errorInfo(error)?.metadata.sku).toBe("SKU-404");
  });

  it("turns an unexpected error into INTERNAL without leaking its message", async () => {
    const error = (await inventory
      .client()
      .getProduct({ sku: "boom" })
      .catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe("internal error");
    expect(error.message).not.toContain("hunter2");
  });

  it("answers UNIMPLEMENTED for a method the implementation lacks", async () => {
    const error = (await inventory
      .client()
      .listProducts({})
      .catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.Unimplemented);
  });
});

describe.each(CLIENT_TRANSPORTS)("shutdown with open streams (%s client)", (transport) => {
  it("ends server streams with UNAVAILABLE instead of waiting out the grace period", async () => {
    // A grace period far beyond the test's timeout: a shutdown that waited for the stream would fail the test.
    const server = await startServer([inventoryRegistration()], {}, { SHUTDOWN_GRACE_MS: "3600000" });
    const health = createClient(Health, server.address, { transport, ...callingAs("gateway"), breaker: false });
    const updates: number[] = [];
    let streaming!: () => void;
    const firstUpdate = new Promise<void>((resolve) => (streaming = resolve));
    const watching = (async () => {
      for await (const update of health.watch({ service: "" })) {
        updates.push(update.status);
        streaming();
      }
    })().catch((e: unknown) => e);
    await firstUpdate; // the stream is open on the server
    await server.shutdown();
    const error = (await watching) as ConnectError;
    expect(error.code).toBe(Code.Unavailable);
    expect(updates[0]).toBe(ServingStatus.SERVING);
    health.close();
  });
});
