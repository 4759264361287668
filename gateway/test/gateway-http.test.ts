import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as connectHttp2 } from "node:http2";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";

const INDEX = "<!doctype html><title>shop</title>";
const SCRIPT = `console.log(${JSON.stringify("x".repeat(2000))})`;

let fx: GatewayFixture;
let webRoot: string;
beforeAll(async () => {
  webRoot = await mkdtemp(join(tmpdir(), "gateway-web-"));
  await mkdir(join(webRoot, "assets"));
  await mkdir(join(webRoot, "v1"));
  await writeFile(join(webRoot, "index.html"), INDEX);
  await writeFile(join(webRoot, "assets", "app-1234.js"), SCRIPT);
  // As the web build writes them: a brotli and a gzip copy beside the file.
  await writeFile(join(webRoot, "assets", "app-1234.js.br"), brotliCompressSync(SCRIPT));
  await writeFile(join(webRoot, "assets", "app-1234.js.gz"), gzipSync(SCRIPT));
  await writeFile(join(webRoot, "assets", "app-1234.css"), "body{}");
  await writeFile(join(webRoot, "v1", "products"), "a file that must not shadow the API");
  await writeFile(join(webRoot, "removed-later.txt"), "listed at start-up, deleted by a test");
  fx = await startGatewayFixture({ GATEWAY_WEB_ROOT: webRoot, GATEWAY_HEADERS_TIMEOUT_MS: "600" });
});
afterAll(async () => {
  await fx?.close();
  await rm(webRoot, { recursive: true, force: true });
});

/** A response as both protocols see it: status, headers (lower case) and the body's bytes. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request over HTTP/1.1 on a raw socket: fetch would send its own Accept-Encoding and decode the body. */
function http1(method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const lines = [`${method} ${path} HTTP/1.1`, "host: x", "connection: close", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    const socket = connect(fx.gateway.port, "127.0.0.1", () => socket.write(`${lines.join("\r\n")}\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf("\r\n\r\n");
      const [statusLine, ...headerLines] = raw.subarray(0, split).toString("latin1").split("\r\n");
      const parsed = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      resolve({ status: Number(statusLine?.split(" ")[1]), headers: parsed, body: raw.subarray(split + 4) });
    });
  });
}

/** One request over h2c (prior knowledge), as gRPC clients and curl --http2-prior-knowledge speak it. */
function http2(method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(fx.baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": method, ":path": path, ...headers });
    const chunks: Buffer[] = [];
    let answer: Omit<Answer, "body"> = { status: 0, headers: {} };
    stream.on("response", (received) => {
      const plain = Object.fromEntries(
        Object.entries(received)
          .filter(([k]) => !k.startsWith(":"))
          .map(([k, v]) => [k, String(v)]),
      );
      answer = { status: Number(received[":status"]), headers: plain };
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      resolve({ ...answer, body: Buffer.concat(chunks) });
    });
    stream.end();
  });
}

describe("the storefront's files", () => {
  it("serves index.html at / and hashed assets with their content types and long caching", async () => {
    const index = await fetch(`${fx.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html; ?charset=utf-8$/);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(index.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await index.text()).toBe(INDEX);
    const js = await fetch(`${fx.baseUrl}/assets/app-1234.js`);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await fetch(`${fx.baseUrl}/assets/app-1234.css`)).headers.get("content-type")).toMatch(/^text\/css/);
  });

  it("answers 404 for missing files and for paths that try to leave the web root", async () => {
    expect((await fetch(`${fx.baseUrl}/nope.js`)).status).toBe(404);
    for (const path of ["/assets/..%2f..%2f..%2fetc%2fpasswd", "/assets/../../../etc/passwd", "/..%2findex.html"]) {
      expect((await http1("GET", path)).status, path).toBe(404);
    }
  });

  it("survives a file removed after start-up: that request fails, the process serves on", async () => {
    await rm(join(webRoot, "removed-later.txt"));
    const failed = await http1("GET", "/removed-later.txt");
    expect(failed.body.toString()).not.toContain("listed at start-up");
    expect((await fetch(`${fx.baseUrl}/`)).status).toBe(200);
  });

  it("lets API routes win over a file of the same path", async () => {
    const response = await fetch(`${fx.baseUrl}/v1/products`);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    expect(await response.json()).toMatchObject({ products: [{ sku: "SKU-1" }, { sku: "SKU-2" }] });
  });

  for (const [protocol, request] of Object.entries({ "HTTP/1.1": http1, h2c: http2 })) {
    it(`answers 304 to If-None-Match with the file's ETag, over ${protocol}`, async () => {
      const first = await request("GET", "/");
      expect(first.status).toBe(200);
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^W\/".+"$/);
      const again = await request("GET", "/", { "if-none-match": etag });
      expect(again.status).toBe(304);
      expect(again.body.length).toBe(0);
      expect((await request("GET", "/", { "if-none-match": 'W/"something-else"' })).status).toBe(200);
    });

    it(`sends the brotli or gzip copy the caller accepts, with Vary: Accept-Encoding, over ${protocol}`, async () => {
      const br = await request("GET", "/assets/app-1234.js", { "accept-encoding": "gzip, deflate, br" });
      expect(br.headers["content-encoding"]).toBe("br");
      expect(br.headers.vary).toBe("Accept-Encoding");
      expect(br.headers["content-type"]).toMatch(/^text\/javascript/);
      expect(br.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect(br.body.equals(brotliCompressSync(SCRIPT))).toBe(true);
      const gzip = await request("GET", "/assets/app-1234.js", { "accept-encoding": "gzip" });
      expect(gzip.headers["content-encoding"]).toBe("gzip");
      expect(gzip.body.equals(gzipSync(SCRIPT))).toBe(true);
      const plain = await request("GET", "/assets/app-1234.js");
      expect(plain.headers["content-encoding"]).toBeUndefined();
      expect(plain.headers.vary).toBe("Accept-Encoding");
      expect(plain.body.toString()).toBe(SCRIPT);
      // Each representation has its own validator, so a cache never answers one with the other.
      expect(br.headers.etag).not.toBe(plain.headers.etag);
    });

    it(`answers HEAD with the headers and no body, over ${protocol}`, async () => {
      const head = await request("HEAD", "/assets/app-1234.js");
      expect(head.status).toBe(200);
      expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(SCRIPT)));
      expect(head.body.length).toBe(0);
    });
  }
});

describe("connection limits", () => {
  it("closes an HTTP/1.1 connection whose headers do not arrive within the headers timeout", async () => {
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = connect(fx.gateway.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n"));
      socket.on("data", () => undefined);
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(Date.now() - started));
    });
    expect(closedAfter).toBeLessThan(5_000);
  });

  it("closes a connection that sends nothing at all", async () => {
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const socket = connect(fx.gateway.port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(Date.now() - started));
    });
    expect(closedAfter).toBeLessThan(5_000);
  });
});
