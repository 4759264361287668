// The lean unary path (surface/lean-unary.ts) against connect-node's adapter, which it replaces for
// unary Connect and gRPC calls: the same requests — well-formed and not — to a gateway on the lean
// path and to one with GATEWAY_LEAN_UNARY=off must get the same status, headers, body and trailers.
// Then what only the lean path could break: a caller leaving mid-call, a forged x-user-id, streams.
import { request } from "node:http";
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  GetProductRequestSchema,
  GetProductResponseSchema,
  ListProductsRequestSchema,
  ListProductsResponseSchema,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";
import { type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream.js";

const GET_PRODUCT = "/shop.inventory.v1.InventoryService/GetProduct";
const LIST_PRODUCTS = "/shop.inventory.v1.InventoryService/ListProducts";
const READ_MAX_BYTES = 4096;

/** What a caller sees of one answer; `date` and connection management left out. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  trailers: Record<string, string>;
}

const IGNORED = new Set(["date", "connection", "keep-alive", ":status"]);

function headersOf(source: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(source).sort()) if (!IGNORED.has(key)) out[key] = String(source[key]);
  return out;
}

/** One POST over HTTP/1.1 with node:http (no automatic decompression: the body as sent). */
function overHttp1(baseUrl: string, path: string, headers: Record<string, string>, body: Uint8Array | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method: "POST", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: headersOf(res.headers),
          body: Buffer.concat(chunks).toString("base64"),
          trailers: headersOf(res.trailers),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function overHttp2(session: ClientHttp2Session, path: string, headers: Record<string, string>, body: Uint8Array): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path, te: "trailers", ...headers });
    const chunks: Buffer[] = [];
    let head: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    stream.on("response", (h) => {
      head = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () =>
      resolve({
        status: Number(head[":status"]),
        headers: headersOf(head),
        body: Buffer.concat(chunks).toString("base64"),
        trailers: headersOf(trailers),
      }),
    );
    stream.on("error", reject);
    stream.end(body);
  });
}

function envelope(message: Uint8Array, flags = 0, declaredLength = message.byteLength): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([head, message]);
}

const getProduct = (sku: string) => toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku }));
/** A page long enough (30 products, ~2 KB) for an answer over connect's 1 KiB compression threshold. */
const longPage = toBinary(ListProductsRequestSchema, create(ListProductsRequestSchema, { pageSize: 30 }));
const longPageJson = JSON.stringify({ pageSize: 30 });

let lean: GatewayFixture;
let adapter: GatewayFixture;
let leanH2: ClientHttp2Session;
let adapterH2: ClientHttp2Session;

beforeAll(async () => {
  const env = { GATEWAY_READ_MAX_BYTES: String(READ_MAX_BYTES), GATEWAY_STREAM_TIMEOUT_MS: "60000" };
  lean = await startGatewayFixture(env);
  adapter = await startGatewayFixture({ ...env, GATEWAY_LEAN_UNARY: "off" });
  leanH2 = connect(lean.baseUrl);
  adapterH2 = connect(adapter.baseUrl);
});
afterAll(async () => {
  leanH2?.close();
  adapterH2?.close();
  await lean?.close();
  await adapter?.close();
});

/** The same request to both gateways: the answers must be equal, and each is returned for its own checks. */
async function both(send: (fx: GatewayFixture, h2: ClientHttp2Session) => Promise<Answer>): Promise<Answer> {
  const fromLean = await send(lean, leanH2);
  const fromAdapter = await send(adapter, adapterH2);
  expect(fromLean).toEqual(fromAdapter);
  return fromLean;
}

const json = { "content-type": "application/json" };

describe("Connect unary on the lean path answers as connect-node does", () => {
  const cases: [string, Record<string, string>, Uint8Array | string, number, string?][] = [
    ["JSON", json, JSON.stringify({ sku: "SKU-1" }), 200],
    ["JSON with charset", { "content-type": "application/json; charset=utf-8" }, JSON.stringify({ sku: "SKU-1" }), 200],
    ["binary (application/proto)", { "content-type": "application/proto" }, getProduct("SKU-1"), 200],
    ["a domain error (NOT_FOUND with its details)", json, JSON.stringify({ sku: "missing" }), 404],
    ["malformed JSON", json, "{not json", 400],
    ["an unknown field", json, JSON.stringify({ nope: 1 }), 400],
    ["bytes that are not the message", { "content-type": "application/proto" }, new Uint8Array([0xff, 0xff, 0xff]), 500],
    ["a body over the size limit", json, JSON.stringify({ sku: "S".repeat(READ_MAX_BYTES) }), 429],
    ["an invalid connect-timeout-ms", { ...json, "connect-timeout-ms": "soon" }, JSON.stringify({ sku: "SKU-1" }), 400],
    ["a deadline over the cap", { ...json, "connect-timeout-ms": "99999999" }, JSON.stringify({ sku: "SKU-1" }), 400],
    ["a deadline under the floor", { ...json, "connect-timeout-ms": "5" }, JSON.stringify({ sku: "SKU-1" }), 504],
    ["a deadline above the floor", { ...json, "connect-timeout-ms": "5000" }, JSON.stringify({ sku: "SKU-1" }), 200],
    ["a gzip request body", { ...json, "content-encoding": "gzip" }, gzipSync(JSON.stringify({ sku: "SKU-1" })), 200],
    ["an unknown content-encoding", { ...json, "content-encoding": "zstd" }, JSON.stringify({ sku: "SKU-1" }), 501],
    ["a gzip body that is not gzip", { ...json, "content-encoding": "gzip" }, JSON.stringify({ sku: "SKU-1" }), 400],
    ["a large answer to a caller accepting gzip", { ...json, "accept-encoding": "gzip" }, longPageJson, 200, LIST_PRODUCTS],
    ["a large answer to a caller accepting br", { ...json, "accept-encoding": "br" }, longPageJson, 200, LIST_PRODUCTS],
    [
      "a large binary answer to a caller accepting gzip",
      { "content-type": "application/proto", "accept-encoding": "gzip" },
      longPage,
      200,
      LIST_PRODUCTS,
    ],
    ["a bad token", { ...json, authorization: "Bearer nope" }, JSON.stringify({ sku: "SKU-1" }), 401],
    ["a malformed Authorization", { ...json, authorization: "Basic x" }, JSON.stringify({ sku: "SKU-1" }), 401],
  ];
  for (const [name, headers, body, status, path = GET_PRODUCT] of cases) {
    it(name, async () => {
      const answer = await both((fx) => overHttp1(fx.baseUrl, path, headers, body));
      expect(answer.status).toBe(status);
    });
  }

  it("compresses a large answer with gzip and leaves a small one as it is", async () => {
    const large = await overHttp1(lean.baseUrl, LIST_PRODUCTS, { ...json, "accept-encoding": "gzip" }, longPageJson);
    expect(large.headers["content-encoding"]).toBe("gzip");
    expect(JSON.parse(gunzipSync(Buffer.from(large.body, "base64")).toString()).products).toHaveLength(30);
    const small = await overHttp1(lean.baseUrl, GET_PRODUCT, { ...json, "accept-encoding": "gzip" }, JSON.stringify({ sku: "SKU-1" }));
    expect(small.headers["content-encoding"]).toBeUndefined();
  });

  it("needs a token for an order method, and never forwards a caller's own x-user-id", async () => {
    const before = lean.calls.length;
    const forged = { ...json, "x-user-id": "someone-else" };
    const answer = await both((fx) =>
      overHttp1(fx.baseUrl, "/shop.order.v1.OrderService/GetOrder", forged, JSON.stringify({ orderId: "o-1" })),
    );
    expect(answer.status).toBe(401);
    await both((fx) => overHttp1(fx.baseUrl, GET_PRODUCT, forged, JSON.stringify({ sku: "SKU-1" })));
    const reached = lean.calls.slice(before);
    expect(reached.map((c) => c.method)).toEqual(["GetProduct"]);
    expect(reached[0]?.userId).toBeNull();
  });
});

describe("gRPC unary on the lean path answers as connect-node does", () => {
  const grpc = { "content-type": "application/grpc" };
  const ok = envelope(getProduct("SKU-1"));
  const cases: [string, Record<string, string>, Uint8Array, string, string?][] = [
    ["application/grpc", grpc, ok, "0"],
    ["application/grpc+proto", { "content-type": "application/grpc+proto" }, ok, "0"],
    ["a domain error: grpc-status-details-bin with its public details", grpc, envelope(getProduct("missing")), "5"],
    ["no message", grpc, new Uint8Array(), "12"],
    ["two messages", grpc, Buffer.concat([ok, ok]), "12"],
    ["a truncated envelope", grpc, ok.subarray(0, ok.byteLength - 2), "3"],
    ["a length prefix longer than the body", grpc, envelope(getProduct("SKU-1"), 0, 1_000), "3"],
    ["bytes that are not the message", grpc, envelope(new Uint8Array([0xff, 0xff, 0xff])), "13"],
    ["a message over the size limit", grpc, envelope(getProduct("S".repeat(READ_MAX_BYTES))), "8"],
    ["a compressed message without grpc-encoding", grpc, envelope(gzipSync(getProduct("SKU-1")), 1), "13"],
    ["a gzip message", { ...grpc, "grpc-encoding": "gzip" }, envelope(gzipSync(getProduct("SKU-1")), 1), "0"],
    ["an unknown grpc-encoding", { ...grpc, "grpc-encoding": "zstd" }, ok, "12"],
    ["an invalid grpc-timeout", { ...grpc, "grpc-timeout": "soon" }, ok, "3"],
    ["a deadline over the cap", { ...grpc, "grpc-timeout": "99999S" }, ok, "3"],
    ["a deadline under the floor", { ...grpc, "grpc-timeout": "5m" }, ok, "4"],
    ["a deadline above the floor", { ...grpc, "grpc-timeout": "5S" }, ok, "0"],
    ["a large answer to a caller accepting gzip", { ...grpc, "grpc-accept-encoding": "gzip" }, envelope(longPage), "0", LIST_PRODUCTS],
    [
      "a large answer to a caller accepting only identity",
      { ...grpc, "grpc-accept-encoding": "identity" },
      envelope(longPage),
      "0",
      LIST_PRODUCTS,
    ],
    ["a bad token", { ...grpc, authorization: "Bearer nope" }, ok, "16"],
    ["from an allowed origin: its CORS headers on the answer", { ...grpc, origin: "http://shop.example" }, ok, "0"],
    [
      "from an allowed origin, failing: CORS headers with the status",
      { ...grpc, origin: "http://shop.example" },
      envelope(getProduct("missing")),
      "5",
    ],
    ["an unknown method (not the lean path: NOT_FOUND)", grpc, ok, "5", "/shop.inventory.v1.InventoryService/Nope"],
    ["an internal method (not public: NOT_FOUND)", grpc, ok, "5", "/shop.inventory.v1.InventoryService/ReserveStock"],
  ];
  for (const [name, headers, body, code, path = GET_PRODUCT] of cases) {
    it(name, async () => {
      const answer = await both((_fx, h2) => overHttp2(h2, path, headers, body));
      expect(answer.status).toBe(200);
      expect(answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]).toBe(code);
    });
  }

  it("answers the product, compressed when large and the caller accepts gzip", async () => {
    const small = await overHttp2(leanH2, GET_PRODUCT, grpc, ok);
    const frame = Buffer.from(small.body, "base64");
    expect(frame[0]).toBe(0);
    expect(fromBinary(GetProductResponseSchema, frame.subarray(5)).product?.sku).toBe("SKU-1");
    const large = await overHttp2(leanH2, LIST_PRODUCTS, { ...grpc, "grpc-accept-encoding": "gzip" }, envelope(longPage));
    expect(large.headers["grpc-encoding"]).toBe("gzip");
    const compressed = Buffer.from(large.body, "base64");
    expect(compressed[0]).toBe(1);
    expect(fromBinary(ListProductsResponseSchema, gunzipSync(compressed.subarray(5))).products).toHaveLength(30);
  });

  it("forwards the caller's deadline (under the gateway's cap) and no forged x-user-id", async () => {
    const before = lean.calls.length;
    await overHttp2(leanH2, GET_PRODUCT, { ...grpc, "grpc-timeout": "3S", "x-user-id": "someone-else" }, ok);
    const call = lean.calls.slice(before)[0];
    expect(call?.userId).toBeNull();
    expect(call?.timeoutMs).toBeGreaterThan(2_000);
    expect(call?.timeoutMs).toBeLessThanOrEqual(3_000);
  });
});

describe("the caller leaving mid-call", () => {
  let upstream: ScriptedUpstream;
  let fx: GatewayFixture;
  beforeAll(async () => {
    upstream = await startScriptedUpstream(() => "hang");
    fx = await startGatewayFixture({ INVENTORY_URL: upstream.target });
  });
  afterAll(async () => {
    await fx?.close();
    await upstream?.close();
  });

  it("cancels the upstream call when a gRPC caller resets its stream, and the gateway serves on", async () => {
    const session = connect(fx.baseUrl);
    try {
      const stream = session.request({ ":method": "POST", ":path": GET_PRODUCT, "content-type": "application/grpc", te: "trailers" });
      stream.on("error", () => undefined);
      stream.end(envelope(getProduct("SKU-1")));
      await until(() => upstream.openCalls() === 1);
      stream.close(constants.NGHTTP2_CANCEL);
      await until(() => upstream.openCalls() === 0);
    } finally {
      session.close();
    }
  });

  it("forwards nothing for a gRPC caller that resets its stream before its message is complete", async () => {
    const before = lean.calls.length;
    const stream = leanH2.request({ ":method": "POST", ":path": GET_PRODUCT, "content-type": "application/grpc", te: "trailers" });
    stream.on("error", () => undefined);
    stream.write(envelope(getProduct("SKU-1")).subarray(0, 7)); // the frame's head and two of its bytes
    await new Promise((resolve) => setTimeout(resolve, 100));
    stream.close(constants.NGHTTP2_CANCEL);
    await new Promise((resolve) => stream.once("close", resolve));
    const answer = await overHttp2(leanH2, GET_PRODUCT, { "content-type": "application/grpc" }, envelope(getProduct("SKU-1")));
    expect(answer.trailers["grpc-status"]).toBe("0");
    expect(lean.calls.slice(before).map((c) => c.method)).toEqual(["GetProduct"]);
  });

  it("cancels the upstream call when a Connect caller closes its connection", async () => {
    const controller = new AbortController();
    const pending = fetch(`${fx.baseUrl}${GET_PRODUCT}`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ sku: "SKU-1" }),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await until(() => upstream.openCalls() === 1);
    controller.abort();
    await pending;
    await until(() => upstream.openCalls() === 0);
  });
});

describe("the gateway shutting down mid-call", () => {
  it("cancels the calls in flight upstream and answers their callers CANCELED", async () => {
    const upstream = await startScriptedUpstream(() => "hang");
    const fx = await startGatewayFixture({ INVENTORY_URL: upstream.target });
    const session = connect(fx.baseUrl);
    session.on("error", () => undefined);
    try {
      const grpcAnswers = [1, 2].map(() =>
        overHttp2(session, GET_PRODUCT, { "content-type": "application/grpc" }, envelope(getProduct("SKU-1"))).catch((e: unknown) => e),
      );
      const connectAnswer = overHttp1(fx.baseUrl, GET_PRODUCT, json, JSON.stringify({ sku: "SKU-1" })).catch((e: unknown) => e);
      await until(() => upstream.openCalls() === 3);
      const closing = fx.close();
      const answers = (await Promise.all(grpcAnswers)) as Answer[];
      for (const answer of answers) expect(answer.trailers["grpc-status"] ?? answer.headers["grpc-status"]).toBe("1");
      expect(((await connectAnswer) as Answer).status).toBe(499);
      await until(() => upstream.openCalls() === 0);
      await closing;
    } finally {
      session.close();
      await upstream.close();
    }
  });
});

/** Waits until `done()` holds; fails after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
