import { Code, type ConnectError } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type GrpcClient, type RunningServer } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { CLIENT_TRANSPORTS, inventoryRegistration, startServer } from "./inventory-fixture.js";

/** Resolves after `ms`, or at once when `signal` aborts (the handler sees its caller leave). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e as ConnectError,
  );

// A breaker that opens after 3 counted failures and stays open long enough for any test here.
const breaker = { consecutiveFailures: 3, halfOpenAfterMs: 60_000 };

describe.each(CLIENT_TRANSPORTS)("circuit breakers count only the target's failures, never the caller's (%s client)", (transport) => {
  let slow: RunningServer;
  let front: RunningServer;
  let frontToSlow: GrpcClient<typeof InventoryService>;
  let toFront: GrpcClient<typeof InventoryService>;

  beforeAll(async () => {
    // "slow-*" takes 300 ms; "internal" fails with INTERNAL; anything else answers at once.
    slow = await startServer([
      inventoryRegistration({
        async getProduct({ sku }, ctx) {
          if (sku === "internal") throw new Error("a bug");
          if (sku.startsWith("slow")) await sleep(300, ctx.signal);
          return { product: { sku } };
        },
      }),
    ]);
    // A front service whose handler calls the slow one with its own budget (the client's 5 s default),
    // under the deadline its own caller propagated — as order calls inventory and payment.
    frontToSlow = createClient(InventoryService, slow.address, { transport, ...callingAs("order"), retry: false, breaker });
    front = await startServer([inventoryRegistration({ getProduct: ({ sku }) => frontToSlow.getProduct({ sku }) })]);
    toFront = createClient(InventoryService, front.address, { transport, ...callingAs("gateway"), retry: false, breaker: false });
  });
  afterAll(async () => {
    toFront.close();
    frontToSlow.close();
    await front.shutdown();
    await slow.shutdown();
  });

  it("does not open on DEADLINE_EXCEEDED under the caller's deadline (callerTimeoutMs), however many", async () => {
    const client = createClient(InventoryService, `${slow.address}`, { transport, ...callingAs("gateway"), retry: false, breaker });
    for (let i = 0; i < 10; i++) {
      expect((await failure(client.getProduct({ sku: "slow-1" }, { callerTimeoutMs: 20 })))?.code).toBe(Code.DeadlineExceeded);
    }
    expect((await client.getProduct({ sku: "fast" })).product?.sku).toBe("fast");
    client.close();
  });

  it("does not open on DEADLINE_EXCEEDED under a short deadline propagated from the incoming call", async () => {
    for (let i = 0; i < 10; i++) {
      expect((await failure(toFront.getProduct({ sku: "slow-2" }, { timeoutMs: 50 })))?.code).toBe(Code.DeadlineExceeded);
    }
    // Before: the front's breaker to the slow service was open, and this failed fast with "circuit open".
    expect((await toFront.getProduct({ sku: "fast" })).product?.sku).toBe("fast");
  });

  it("does not open on CANCELLED: callers that leave say nothing about the target", async () => {
    const client = createClient(InventoryService, slow.address, { transport, ...callingAs("gateway"), retry: false, breaker });
    for (let i = 0; i < 10; i++) {
      const abort = new AbortController();
      const pending = failure(client.getProduct({ sku: "slow-3" }, { signal: abort.signal }));
      setTimeout(() => abort.abort(), 10);
      expect((await pending)?.code).toBe(Code.Canceled);
    }
    expect((await client.getProduct({ sku: "fast" })).product?.sku).toBe("fast");
    client.close();
  });

  it("opens on DEADLINE_EXCEEDED when the call's own budget ran out (the caller gave more time)", async () => {
    const client = createClient(InventoryService, `dns:///${slow.address}`, { transport, ...callingAs("gateway"), retry: false, breaker });
    for (let i = 0; i < 3; i++) {
      const error = await failure(client.getProduct({ sku: "slow-4" }, { timeoutMs: 20, callerTimeoutMs: 10_000 }));
      expect(error?.code).toBe(Code.DeadlineExceeded);
    }
    const fast = await failure(client.getProduct({ sku: "fast" }));
    expect(fast?.code).toBe(Code.Unavailable);
    expect(fast?.rawMessage).toContain("circuit open");
    client.close();
  });

  it("opens on INTERNAL", async () => {
    const client = createClient(InventoryService, `ipv4:${slow.address}`, { transport, ...callingAs("gateway"), retry: false, breaker });
    for (let i = 0; i < 3; i++) expect((await failure(client.getProduct({ sku: "internal" })))?.code).toBe(Code.Internal);
    expect((await failure(client.getProduct({ sku: "fast" })))?.rawMessage).toContain("circuit open");
    client.close();
  });
});
