import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { trace } from "@opentelemetry/api";
import { GetProductRequestSchema, GetProductResponseSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentIncomingCall, enableContextPropagation, type RunningServer } from "../src/index.js";
import { contextPropagationEnabled } from "../src/observability/tracing.js";
import { testCertificateFiles } from "../src/testing/certificates.js";
import { inventoryRegistration, startServer } from "./inventory-fixture.js";

// This file never creates a platform client, publisher or consumer: the process starts without
// async context propagation, as inventory and payment run. (Vitest runs each file in its own process.)

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

interface SeenByHandler {
  activeTraceId: string | undefined;
  incomingCall: boolean;
}

/** Calls GetProduct with a plain grpc-js client (not the platform's, which would turn propagation on). */
function getProduct(client: Client, sku: string): Promise<string> {
  const metadata = new Metadata();
  metadata.set("traceparent", TRACEPARENT);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      "/shop.inventory.v1.InventoryService/GetProduct",
      (request: string) => Buffer.from(toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku: request }))),
      (bytes: Buffer) => fromBinary(GetProductResponseSchema, bytes),
      sku,
      metadata,
      (error: ServiceError | null, response?: { product?: { name: string } }) =>
        error ? reject(error) : resolve(response?.product?.name ?? ""),
    );
  });
}

describe("async context propagation, on demand", () => {
  let server: RunningServer;
  let client: Client;
  const seen: SeenByHandler[] = [];
  const logged: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) logged.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    server = await startServer(
      [
        inventoryRegistration({
          getProduct({ sku }) {
            seen.push({ activeTraceId: trace.getActiveSpan()?.spanContext().traceId, incomingCall: currentIncomingCall() !== undefined });
            return { product: { sku, name: "Enamel mug" } };
          },
        }),
      ],
      { logger: pino({ level: "info" }, sink) },
    );
    const files = testCertificateFiles("gateway");
    client = new Client(server.address, credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert)));
  });
  afterAll(async () => {
    client.close();
    await server.shutdown();
  });

  it("is off in a process that makes no outgoing calls: handlers see no active span, the call is still traced and logged", async () => {
    expect(contextPropagationEnabled()).toBe(false);
    expect(await getProduct(client, "SKU-1")).toBe("Enamel mug");
    expect(seen.at(-1)).toEqual({ activeTraceId: undefined, incomingCall: false });
    const line = logged.filter((l) => l.method === "GetProduct").at(-1);
    expect(line).toMatchObject({ code: "OK", trace_id: TRACE_ID });
  });

  it("once enabled, handlers run in the call's context: its span (continuing the caller's trace) and the incoming call", async () => {
    enableContextPropagation();
    expect(contextPropagationEnabled()).toBe(true);
    expect(await getProduct(client, "SKU-1")).toBe("Enamel mug");
    expect(seen.at(-1)).toEqual({ activeTraceId: TRACE_ID, incomingCall: true });
    expect(logged.filter((l) => l.method === "GetProduct").at(-1)).toMatchObject({ code: "OK", trace_id: TRACE_ID });
  });
});
