import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";

let fx: GatewayFixture;
let webRoot: string;
beforeAll(async () => {
  webRoot = await mkdtemp(join(tmpdir(), "gateway-web-"));
  await mkdir(join(webRoot, "assets"));
  await writeFile(join(webRoot, "index.html"), "<!doctype html><title>shop</title>");
  await writeFile(join(webRoot, "assets", "app-1234.js"), "console.log(1)");
  await writeFile(join(webRoot, "assets", "app-1234.css"), "body{}");
  fx = await startGatewayFixture({ GATEWAY_WEB_ROOT: webRoot, GATEWAY_HEADERS_TIMEOUT_MS: "600" });
});
afterAll(async () => {
  await fx?.close();
  await rm(webRoot, { recursive: true, force: true });
});

describe("the storefront's files", () => {
  it("serves index.html at / and hashed assets with their content types and long caching", async () => {
    const index = await fetch(`${fx.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const js = await fetch(`${fx.baseUrl}/assets/app-1234.js`);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(`${fx.baseUrl}/assets/app-1234.css`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
  });

  it("answers 404 for missing files and for paths that try to leave the web root", async () => {
    expect((await fetch(`${fx.baseUrl}/nope.js`)).status).toBe(404);
    const escape = await new Promise<string>((resolve) => {
      const socket = connect(fx.gateway.port, "127.0.0.1", () =>
        socket.write("GET /assets/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      let data = "";
      socket.on("data", (chunk) => (data += chunk));
      socket.on("close", () => resolve(data));
    });
    expect(escape).toMatch(/^HTTP\/1\.1 404/);
  });
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
