// Client spans when spans are recorded: every call gets its own CLIENT span with the method's
// attributes, although the span name and options are built once per method.
process.env.OTEL_TRACES_SAMPLER = "always_on"; // before the platform's initTracing: the SDK tracer records

import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { describe, expect, it } from "vitest";
import { CLIENT_TRANSPORTS, inventoryWithClient } from "./inventory-fixture.js";

const spans = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).register();

describe.each(CLIENT_TRANSPORTS)("client spans, recorded (%s client)", (transport) => {
  const inventory = inventoryWithClient(transport);

  it("records one CLIENT span per call with the method's attributes and its own status, unshared between calls", async () => {
    spans.reset();
    await inventory.client().getProduct({ sku: "SKU-1" });
    await expect(inventory.client().getProduct({ sku: "nope" })).rejects.toThrow();
    const clientSpans = spans.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(clientSpans).toHaveLength(2);
    const [ok, failed] = clientSpans as [(typeof clientSpans)[0], (typeof clientSpans)[0]];
    for (const span of clientSpans) {
      expect(span.name).toBe("shop.inventory.v1.InventoryService/GetProduct");
      expect(span.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.service": "shop.inventory.v1.InventoryService",
        "rpc.method": "GetProduct",
        "server.address": inventory.server().address,
      });
    }
    expect(ok.attributes["rpc.grpc.status_code"]).toBe(0);
    expect(failed.attributes["rpc.grpc.status_code"]).toBe(5);
    expect(ok.spanContext().spanId).not.toBe(failed.spanContext().spanId);
    // the SERVER spans continue the CLIENT spans' traces
    const serverSpans = spans.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER && s.name.endsWith("/GetProduct"));
    expect(serverSpans.map((s) => s.spanContext().traceId).sort()).toEqual(clientSpans.map((s) => s.spanContext().traceId).sort());
  });
});
