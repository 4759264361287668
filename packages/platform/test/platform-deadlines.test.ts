import { Code, type ConnectError } from "@connectrpc/connect";
import { trace } from "@opentelemetry/api";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type GrpcClient, initTracing, type RunningServer } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { waitFor } from "../src/testing/wait.js";
import { CLIENT_TRANSPORTS, inventoryRegistration, startServer } from "./inventory-fixture.js";

interface Seen {
  timeoutMs?: number | undefined;
  userId?: string | null;
  traceparent?: string | null;
  aborted?: unknown;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe.each(CLIENT_TRANSPORTS)("deadlines, cancellation and context across hops (%s client)", (transport) => {
  let b: RunningServer;
  let a: RunningServer;
  let toA: GrpcClient<typeof InventoryService>;
  let seenByB: Seen = {};
  let seenByA: Seen & { traceId?: string } = {};

  beforeAll(async () => {
    initTracing("deadline-test");
    b = await startServer([
      inventoryRegistration({
        async getProduct({ sku }, ctx) {
          seenByB = {
            timeoutMs: ctx.timeoutMs(),
            userId: ctx.requestHeader.get("x-user-id"),
            traceparent: ctx.requestHeader.get("traceparent"),
          };
          if (sku.startsWith("slow")) {
            await sleep(2_000, ctx.signal);
            seenByB.aborted = ctx.signal.aborted ? (ctx.signal.reason as ConnectError).code : false;
          }
          return { product: { sku, name: "from B" } };
        },
      }),
    ]);
    const toB = createClient(InventoryService, b.address, { transport, ...callingAs("gateway"), breaker: false });
    a = await startServer([
      inventoryRegistration({
        async getProduct({ sku }, ctx) {
          seenByA = { timeoutMs: ctx.timeoutMs(), traceId: trace.getActiveSpan()?.spanContext().traceId };
          if (sku === "slow-here") {
            // Work far longer than the test may take: only the deadline's abort ends it in time.
            await sleep(60_000, ctx.signal);
            seenByA.aborted = ctx.signal.aborted ? (ctx.signal.reason as ConnectError).code : false;
            return { product: { sku } };
          }
          return toB.getProduct({ sku });
        },
      }),
    ]);
    a.onShutdown(() => toB.close());
    toA = createClient(InventoryService, a.address, { transport, ...callingAs("gateway"), breaker: false });
  });
  afterAll(async () => {
    toA.close();
    await a.shutdown();
    await b.shutdown();
  });

  it("gives DEADLINE_EXCEEDED when the deadline is shorter than the handler's work, and the handler sees the abort", async () => {
    const error = (await toA.getProduct({ sku: "slow-here" }, { timeoutMs: 2_000 }).catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.DeadlineExceeded);
    await until(() => seenByA.aborted !== undefined);
    expect(seenByA.aborted).toBe(Code.DeadlineExceeded);
  });

  it("caps the second hop's deadline with the first hop's, and passes x-user-id on", async () => {
    const response = await toA.getProduct({ sku: "SKU-1" }, { timeoutMs: 1_500, headers: { "x-user-id": "user-42" } });
    expect(response.product?.name).toBe("from B");
    expect(seenByA.timeoutMs).toBeLessThanOrEqual(1_500);
    // A's client would default to 5 s; B sees at most what A had left.
    expect(seenByB.timeoutMs).toBeDefined();
    expect(seenByB.timeoutMs!).toBeLessThanOrEqual(seenByA.timeoutMs!);
    expect(seenByB.userId).toBe("user-42");
  });

  it("times out the second hop with the first hop's deadline, and B sees the abort", async () => {
    const error = (await toA.getProduct({ sku: "slow-in-b" }, { timeoutMs: 200 }).catch((e: unknown) => e)) as ConnectError;
    expect(error.code).toBe(Code.DeadlineExceeded);
    await until(() => seenByB.aborted !== undefined);
    // B's own copy of the deadline and A's cancellation of its call fire at the same instant; either
    // way B stopped at the first hop's deadline, long before its 2 s of work (`false`) were done.
    expect([Code.DeadlineExceeded, Code.Canceled]).toContain(seenByB.aborted);
  });

  it("cancels the second hop when the original caller gives up", async () => {
    const abort = new AbortController();
    seenByB = {};
    const pending = toA.getProduct({ sku: "slow-in-b" }, { signal: abort.signal, timeoutMs: 5_000 }).catch((e: unknown) => e);
    await until(() => seenByB.timeoutMs !== undefined); // the call is in B's handler
    abort.abort();
    const error = (await pending) as ConnectError;
    expect(error.code).toBe(Code.Canceled);
    await until(() => seenByB.aborted !== undefined);
    expect(seenByB.aborted).toBe(Code.Canceled);
  });

  it("keeps one trace id across a two-hop call", async () => {
    const tracer = trace.getTracer("test");
    const rootTraceId = await tracer.startActiveSpan("test-root", async (span) => {
      await toA.getProduct({ sku: "SKU-1" });
      span.end();
      return span.spanContext().traceId;
    });
    expect(rootTraceId).toMatch(/^[0-9a-f]{32}$/);
    expect(seenByA.traceId).toBe(rootTraceId);
    expect(seenByB.traceparent?.split("-")[1]).toBe(rootTraceId);
  });
});

/** Waits until `done()` holds, failing the test after 15 s: an event seen, not a window slept through. */
const until = (done: () => boolean) => waitFor(done, { timeoutMs: 15_000, intervalMs: 10 });
