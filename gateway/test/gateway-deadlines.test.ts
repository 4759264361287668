import { connect as connectHttp2 } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { GetProductRequestSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";

let fx: GatewayFixture;
let noMinimum: GatewayFixture;
beforeAll(async () => {
  // The gateway's own upstream clients (retries, a breaker per target), as in production.
  fx = await startGatewayFixture({ GATEWAY_RATE_LIMIT_BURST: "1000" }, { productionClients: true });
  noMinimum = await startGatewayFixture({ GATEWAY_RATE_LIMIT_BURST: "1000", GATEWAY_MIN_TIMEOUT_MS: "0" }, { productionClients: true });
});
afterAll(async () => {
  await fx?.close();
  await noMinimum?.close();
});

/** One gRPC call over h2c with a `grpc-timeout`, answering the status the gateway sent. */
function grpcCall(baseUrl: string, timeout: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(baseUrl);
    session.on("error", reject);
    const message = toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku: "SKU-1" }));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const stream = session.request({
      ":method": "POST",
      ":path": "/shop.inventory.v1.InventoryService/GetProduct",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": timeout,
    });
    let code = -1;
    stream.on("response", (headers) => {
      if (headers["grpc-status"] !== undefined) code = Number(headers["grpc-status"]);
    });
    stream.on("trailers", (trailers) => {
      code = Number(trailers["grpc-status"]);
    });
    stream.on("data", () => undefined);
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve(code);
    });
    stream.end(frame);
  });
}

describe("the gateway's minimum deadline (GATEWAY_MIN_TIMEOUT_MS, default 100 ms)", () => {
  it("refuses a shorter deadline at once with DEADLINE_EXCEEDED over REST, Connect and gRPC, reaching no service", async () => {
    expect(fx.config.limits.minTimeoutMs).toBe(100);
    const before = fx.calls.length;
    const rest = await fetch(`${fx.baseUrl}/v1/products/SKU-1`, { headers: { "x-timeout-ms": "1" } });
    expect(rest.status).toBe(504);
    expect(await rest.json()).toMatchObject({ code: "deadline_exceeded", message: "the deadline must be at least 100 ms" });
    const connect = await fetch(`${fx.baseUrl}/shop.inventory.v1.InventoryService/GetProduct`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "50" },
      body: JSON.stringify({ sku: "SKU-1" }),
    });
    expect(((await connect.json()) as { code: string }).code).toBe("deadline_exceeded");
    expect(await grpcCall(fx.baseUrl, "60m")).toBe(Code.DeadlineExceeded);
    expect(fx.calls.length).toBe(before);
  });

  it("serves a deadline above the minimum", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/products/SKU-1`, { headers: { "x-timeout-ms": "5000" } });
    expect(response.status).toBe(200);
    expect(await grpcCall(fx.baseUrl, "5S")).toBe(0);
  });
});

describe("the gateway's breakers: callers cannot trip them", () => {
  it("40 anonymous /v1/products with X-Timeout-Ms: 1 reach no service, and the catalogue keeps serving everyone", async () => {
    const before = fx.calls.length;
    const statuses = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${fx.baseUrl}/v1/products`, { headers: { "x-timeout-ms": "1" } }).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([504]));
    expect(fx.calls.length).toBe(before);
    const other = await fetch(`${fx.baseUrl}/v1/products`);
    expect(other.status).toBe(200);
  });

  it("with no minimum, 40 calls under a 1 ms caller deadline still leave the breaker to inventory closed", async () => {
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${noMinimum.baseUrl}/v1/products`, { headers: { "x-timeout-ms": "1" } });
      expect([200, 504]).toContain(response.status);
    }
    // Before: "circuit open for 127.0.0.1:<port>: failing fast" (HTTP 503) for everyone for the next 5 s.
    const other = await fetch(`${noMinimum.baseUrl}/v1/products`);
    expect(other.status).toBe(200);
  });
});
