import { Code, type ConnectError } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, invalidArgument, type RunningServer, unavailable } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { CLIENT_TRANSPORTS, inventoryRegistration, startServer } from "./inventory-fixture.js";

describe.each(CLIENT_TRANSPORTS)("resilient clients (%s client)", (transport) => {
  let server: RunningServer;
  let invocations = 0;
  let failuresLeft = 0;
  let mode: "unavailable" | "invalid" = "unavailable";

  beforeAll(async () => {
    server = await startServer([
      inventoryRegistration({
        async getProduct({ sku }) {
          invocations++;
          if (failuresLeft > 0) {
            failuresLeft--;
            throw mode === "unavailable"
              ? unavailable("DEPENDENCY_DOWN", "try again")
              : invalidArgument([{ field: "sku", description: "bad" }]);
          }
          return { product: { sku } };
        },
      }),
    ]);
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it("retries UNAVAILABLE through the service config until the call succeeds", async () => {
    const client = createClient(InventoryService, server.address, {
      transport,
      ...callingAs("gateway"),
      breaker: false,
      retry: { initialBackoffMs: 10, maxBackoffMs: 50 },
    });
    invocations = 0;
    failuresLeft = 2;
    mode = "unavailable";
    const response = await client.getProduct({ sku: "SKU-1" });
    expect(response.product?.sku).toBe("SKU-1");
    expect(invocations).toBe(3);
    client.close();
  });

  it("gives up after maxAttempts and returns UNAVAILABLE", async () => {
    const client = createClient(InventoryService, server.address, {
      transport,
      ...callingAs("gateway"),
      breaker: false,
      retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 50 },
    });
    invocations = 0;
    failuresLeft = 100;
    mode = "unavailable";
    const error = (await client.getProduct({ sku: "SKU-1" }).catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.Unavailable);
    expect(invocations).toBe(3);
    failuresLeft = 0;
    client.close();
  });

  it("never retries INVALID_ARGUMENT", async () => {
    const client = createClient(InventoryService, server.address, {
      transport,
      ...callingAs("gateway"),
      breaker: false,
      retry: { initialBackoffMs: 10 },
    });
    invocations = 0;
    failuresLeft = 1;
    mode = "invalid";
    const error = (await client.getProduct({ sku: "SKU-1" }).catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.InvalidArgument);
    expect(invocations).toBe(1);
    failuresLeft = 0;
    client.close();
  });

  it("opens the breaker after consecutive failures, fails fast while open, and recovers after a probe", async () => {
    const client = createClient(InventoryService, server.address, {
      transport,
      ...callingAs("gateway"),
      retry: false,
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 },
    });
    invocations = 0;
    failuresLeft = 1_000;
    mode = "unavailable";
    for (let i = 0; i < 3; i++) {
      expect(((await client.getProduct({ sku: "SKU-1" }).catch((e: unknown) => e)) as ConnectError).code).toBe(Code.Unavailable);
    }
    expect(invocations).toBe(3);
    const fast = (await client.getProduct({ sku: "SKU-1" }).catch((e: unknown) => e)) as ConnectError;
    expect(fast.code).toBe(Code.Unavailable);
    expect(fast.rawMessage).toContain("circuit open");
    expect(invocations).toBe(3); // failed fast: the call never reached the server

    failuresLeft = 0;
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await client.getProduct({ sku: "SKU-1" })).product?.sku).toBe("SKU-1");
    expect((await client.getProduct({ sku: "SKU-1" })).product?.sku).toBe("SKU-1");
    expect(invocations).toBe(5);
    const metrics = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/grpc_client_circuit_rejected_total\{grpc_target="[^"]+"\} 1/);
    client.close();
  });

  it("returns UNAVAILABLE quickly when nothing listens at the target", async () => {
    const client = createClient(InventoryService, "127.0.0.1:1", {
      transport,
      ...callingAs("gateway"),
      breaker: false,
      retry: { initialBackoffMs: 10, maxBackoffMs: 20 },
    });
    const error = (await client.getProduct({ sku: "SKU-1" }, { timeoutMs: 2_000 }).catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.Unavailable);
    client.close();
  });
});
