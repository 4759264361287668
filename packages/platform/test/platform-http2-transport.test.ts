import { once } from "node:events";
import { constants, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { type AddressInfo, createConnection, createServer as createNetServer } from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  GetProductRequestSchema,
  GetProductResponseSchema,
  InventoryService,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toWireStatus } from "../src/adapter/status.js";
import { type ClientOptions, createClient, errorInfo, notFound } from "../src/index.js";

/** What the hostile server does with a call, by SKU. */
type Behaviour = (stream: ServerHttp2Stream) => void;

function framed(bytes: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(bytes.byteLength + 5);
  out[0] = flags;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

const product = toBinary(GetProductResponseSchema, create(GetProductResponseSchema, { product: { sku: "SKU-1", name: "Enamel mug" } }));

function answer(stream: ServerHttp2Stream, body: Buffer, headers: Record<string, string> = {}): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc", ...headers }, { waitForTrailers: true });
  stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(body);
}

const behaviours: Record<string, Behaviour> = {
  ok: (stream) => answer(stream, framed(product)),
  silent: () => {},
  html: (stream) => {
    stream.respond({ ":status": 200, "content-type": "text/html" });
    stream.end("<html>hello</html>");
  },
  "http-503": (stream) => {
    stream.respond({ ":status": 503 });
    stream.end();
  },
  garbage: (stream) => answer(stream, Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff])),
  huge: (stream) => answer(stream, framed(new Uint8Array(64 * 1024))),
  // Small frames, one after another, never ending: a unary answer is one message, not a stream to buffer.
  endless: (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    const timer = setInterval(() => {
      if (!stream.destroyed) stream.write(framed(new Uint8Array(512)));
    }, 5);
    stream.on("close", () => clearInterval(timer));
  },
  "rst-mid-response": (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.write(framed(product).subarray(0, 4), () => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
  },
  "killed-mid-call": (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.write(framed(product).subarray(0, 4), () => stream.session?.socket.destroy());
  },
  // The connection dropped before any answer: the request was not processed, a retry may go.
  "killed-before-answer": (stream) => stream.session?.socket.destroy(),
  "trailers-only-details": (stream) => {
    const status = toWireStatus(notFound("PRODUCT_NOT_FOUND", { type: "product", name: "nope" }, { sku: "nope" }));
    const details = status.metadata.get("grpc-status-details-bin")[0] as Buffer;
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(status.code),
        "grpc-message": encodeURIComponent(status.details),
        "grpc-status-details-bin": details.toString("base64"),
      },
      { endStream: true },
    );
  },
  "percent-message": (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.once("wantTrailers", () =>
      stream.sendTrailers({ "grpc-status": String(Code.FailedPrecondition), "grpc-message": "caf%C3%A9 100%25 %E2%9C%93" }),
    );
    stream.end();
  },
  gzip: (stream) => answer(stream, framed(gzipSync(product), 1), { "grpc-encoding": "gzip" }),
  goaway: (stream) => {
    answer(stream, framed(product));
    stream.session?.goaway(constants.NGHTTP2_NO_ERROR);
  },
};

describe("the http2 client transport against a hostile server", () => {
  let server: Http2Server;
  let target: string;
  const sessions = new Set<unknown>();
  const seenTimeouts: string[] = [];
  const seenSkus: string[] = [];

  beforeAll(async () => {
    server = createServer();
    server.on("session", (session) => sessions.add(session));
    server.on("stream", (stream, headers) => {
      seenTimeouts.push(String(headers["grpc-timeout"]));
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", () => {});
      stream.on("end", () => {
        // The request is GetProductRequest{sku}: field 1, length-delimited, after the 5-byte prefix.
        const body = Buffer.concat(chunks);
        const sku = body.subarray(7).toString("utf8");
        seenSkus.push(sku);
        (behaviours[sku] ?? behaviours.ok!)(stream);
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const session of sessions) (session as { destroy(): void }).destroy();
    server.close();
  });

  const client = (options: ClientOptions = {}) =>
    createClient(InventoryService, target, { transport: "http2", retry: false, breaker: false, ...options });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.unreachable("the call succeeded"),
      (e: unknown) => e as ConnectError,
    );

  it("answers a well-formed call, sending the deadline as grpc-timeout", async () => {
    const response = await client().getProduct({ sku: "ok" }, { timeoutMs: 3_000 });
    expect(response.product?.name).toBe("Enamel mug");
    expect(seenTimeouts.at(-1)).toMatch(/^\d+m$/);
  });

  it("gives DEADLINE_EXCEEDED when the server never answers", async () => {
    const error = await failure(client().getProduct({ sku: "silent" }, { timeoutMs: 150 }));
    expect(error.code).toBe(Code.DeadlineExceeded);
  });

  it("gives CANCELLED when the caller aborts", async () => {
    const controller = new AbortController();
    const call = client().getProduct({ sku: "silent" }, { signal: controller.signal });
    controller.abort();
    expect((await failure(call)).code).toBe(Code.Canceled);
  });

  it("gives UNKNOWN for a response that is not gRPC, and UNAVAILABLE for HTTP 503", async () => {
    expect((await failure(client().getProduct({ sku: "html" }))).code).toBe(Code.Unknown);
    expect((await failure(client().getProduct({ sku: "http-503" }))).code).toBe(Code.Unavailable);
  });

  it("gives INTERNAL for bytes that are not the response message, or a frame cut short", async () => {
    expect((await failure(client().getProduct({ sku: "garbage" }))).code).toBe(Code.Internal);
  });

  it("gives RESOURCE_EXHAUSTED for a message over the limit, either way", async () => {
    expect((await failure(client({ maxMessageBytes: 1024 }).getProduct({ sku: "huge" }))).code).toBe(Code.ResourceExhausted);
    expect((await failure(client({ maxMessageBytes: 16 }).getProduct({ sku: "x".repeat(64) }))).code).toBe(Code.ResourceExhausted);
  });

  it("gives RESOURCE_EXHAUSTED (not its deadline) for frames that never stop coming", async () => {
    const error = await failure(client({ maxMessageBytes: 4096 }).getProduct({ sku: "endless" }, { timeoutMs: 20_000 }));
    expect(error.code).toBe(Code.ResourceExhausted);
  });

  it("gives INTERNAL when the server resets the stream mid-response", async () => {
    const error = await failure(client().getProduct({ sku: "rst-mid-response" }));
    expect(error.code).toBe(Code.Internal);
  });

  it("gives UNAVAILABLE when the server dies mid-call, and the next call reconnects", async () => {
    const c = client();
    expect((await failure(c.getProduct({ sku: "killed-mid-call" }))).code).toBe(Code.Unavailable);
    expect((await c.getProduct({ sku: "ok" })).product?.sku).toBe("SKU-1");
  });

  it("retries UNAVAILABLE only while the server has not answered: not once its response headers came (the call was committed)", async () => {
    const retrying = client({ retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 20 } });
    const count = (sku: string) => seenSkus.filter((seen) => seen === sku).length;
    const before = { mid: count("killed-mid-call"), early: count("killed-before-answer") };
    expect((await failure(retrying.getProduct({ sku: "killed-mid-call" }))).code).toBe(Code.Unavailable);
    expect(count("killed-mid-call") - before.mid).toBe(1);
    expect((await failure(retrying.getProduct({ sku: "killed-before-answer" }))).code).toBe(Code.Unavailable);
    expect(count("killed-before-answer") - before.early).toBe(3);
  });

  it("moves new calls to a fresh session after GOAWAY", async () => {
    const c = client();
    expect((await c.getProduct({ sku: "goaway" })).product?.sku).toBe("SKU-1");
    expect((await c.getProduct({ sku: "ok" })).product?.sku).toBe("SKU-1");
  });

  it("reads a trailers-only error with its details", async () => {
    const error = await failure(client().getProduct({ sku: "trailers-only-details" }));
    expect(error).toBeInstanceOf(ConnectError);
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
    expect(errorInfo(error)?.metadata.sku).toBe("nope");
  });

  it("percent-decodes grpc-message", async () => {
    const error = await failure(client().getProduct({ sku: "percent-message" }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe("café 100% ✓");
  });

  it("reads a gzip-compressed response", async () => {
    expect((await client().getProduct({ sku: "gzip" })).product?.name).toBe("Enamel mug");
  });

  for (const transport of ["http2", "grpc-js"] as const) {
    it(`${transport}: a method's bytes call sends the request's bytes as they are and answers the response's, undecoded`, async () => {
      const c = client({ transport });
      const bytes = c.getProduct.bytes ?? expect.unreachable("a platform client's unary method has its bytes call");
      const ask = (sku: string) => toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku }));
      expect(Buffer.from(await bytes(ask("ok")))).toEqual(Buffer.from(product));
      expect(seenSkus.at(-1)).toBe("ok");
      // Not the response message: a typed call fails INTERNAL, the bytes call hands it on as it came.
      expect(Buffer.from(await bytes(ask("garbage")))).toEqual(Buffer.from([0xff, 0xff, 0xff]));
      expect(Buffer.from(await bytes(ask("gzip")))).toEqual(Buffer.from(product));
      const error = await failure(bytes(ask("trailers-only-details")));
      expect(error.code).toBe(Code.NotFound);
      expect(errorInfo(error)?.reason).toBe("PRODUCT_NOT_FOUND");
      expect((await failure(bytes(ask("silent"), { timeoutMs: 150 }))).code).toBe(Code.DeadlineExceeded);
      c.close();
    });
  }

  it("gives UNAVAILABLE when nothing listens, after its retries", async () => {
    const c = createClient(InventoryService, "127.0.0.1:1", {
      transport: "http2",
      breaker: false,
      retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 1 },
    });
    expect((await failure(c.getProduct({ sku: "ok" }))).code).toBe(Code.Unavailable);
    c.close();
  });

  it("drops a connection that stops answering (a half-open link: keep-alive ping unanswered) and calls on a fresh one", async () => {
    // A TCP relay to the server whose connections can be cut silently: bytes stop flowing both ways
    // while both sockets stay open, as after a network partition or a peer that froze.
    const links: { cut: boolean }[] = [];
    const relay = createNetServer((caller) => {
      const link = { cut: false };
      links.push(link);
      const server = createConnection(Number(target.split(":")[1]), "127.0.0.1");
      caller.on("data", (chunk) => link.cut || server.write(chunk));
      server.on("data", (chunk) => link.cut || caller.write(chunk));
      for (const [a, b] of [
        [caller, server],
        [server, caller],
      ] as const) {
        a.on("error", () => b.destroy());
        a.on("close", () => b.destroy());
      }
    });
    relay.listen(0, "127.0.0.1");
    await once(relay, "listening");
    const c = createClient(InventoryService, `127.0.0.1:${(relay.address() as AddressInfo).port}`, {
      transport: "http2",
      retry: false,
      breaker: false,
      keepaliveTimeMs: 100,
      keepaliveTimeoutMs: 200,
    });
    try {
      expect((await c.getProduct({ sku: "ok" })).product?.name).toBe("Enamel mug");
      for (const link of links) link.cut = true;
      const started = Date.now();
      // Its deadline is far off: the unanswered ping, not the deadline, ends it.
      const error = await failure(c.getProduct({ sku: "ok" }, { timeoutMs: 10_000 }));
      expect(error.code).toBe(Code.Unavailable);
      expect(error.rawMessage).toContain("keep-alive ping unanswered");
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await c.getProduct({ sku: "ok" })).product?.name).toBe("Enamel mug");
      expect(links).toHaveLength(2);
    } finally {
      c.close();
      relay.close();
    }
  });
});
