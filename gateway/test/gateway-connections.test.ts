import { connect as connectHttp2 } from "node:http2";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";

let capped: GatewayFixture;
let cappedPerIp: GatewayFixture;
let timed: GatewayFixture;
beforeAll(async () => {
  capped = await startGatewayFixture({ GATEWAY_MAX_CONNECTIONS: "2", GATEWAY_HEADERS_TIMEOUT_MS: "20000" });
  cappedPerIp = await startGatewayFixture({ GATEWAY_MAX_CONNECTIONS_PER_IP: "2", GATEWAY_HEADERS_TIMEOUT_MS: "20000" });
  timed = await startGatewayFixture({ GATEWAY_REQUEST_TIMEOUT_MS: "800", GATEWAY_HEADERS_TIMEOUT_MS: "800" });
});
afterAll(async () => {
  await capped?.close();
  await cappedPerIp?.close();
  await timed?.close();
});

/** A TCP connection to the gateway from `from` (any 127.x.y.z address is this machine's loopback). */
function openSocket(port: number, from = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: from }, () => resolve(socket));
    socket.on("error", reject);
  });
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));

/** Sends an HTTP/1.1 request with `connection: close` on a raw socket; resolves with the status line, or "" if closed unanswered. */
function http1Get(port: number, path: string, from = "127.0.0.1"): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const socket = connect({ port, host: "127.0.0.1", localAddress: from }, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`),
    );
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(received.split("\r\n")[0] ?? ""));
  });
}

describe("the gateway's connection cap (GATEWAY_MAX_CONNECTIONS)", () => {
  it("closes connections past the cap as they arrive, and serves again once one is gone", async () => {
    const held = [await openSocket(capped.gateway.port), await openSocket(capped.gateway.port)];
    expect(await http1Get(capped.gateway.port, "/v1/products")).toBe("");
    for (const socket of held) socket.destroy();
    await Promise.all(held.map(closed));
    expect(await http1GetOnceFree(capped.gateway.port, "/v1/products")).toBe("HTTP/1.1 200 OK");
  });
});

/** Asks until a request is answered (the server learns of closes asynchronously; a refused attempt costs nothing). */
async function http1GetOnceFree(port: number, path: string, from = "127.0.0.1"): Promise<string> {
  let status = "";
  for (let attempt = 0; attempt < 50 && status === ""; attempt++) {
    status = await http1Get(port, path, from);
    if (status === "") await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return status;
}

describe("the gateway's per-address connection cap (GATEWAY_MAX_CONNECTIONS_PER_IP)", () => {
  it("closes one address's connections past its cap while other addresses are served, and serves it again once one is gone", async () => {
    const port = cappedPerIp.gateway.port;
    const held = [await openSocket(port, "127.0.0.2"), await openSocket(port, "127.0.0.2")];
    expect(await http1Get(port, "/v1/products", "127.0.0.2")).toBe("");
    // Another neighbour is not affected by the first one's connections.
    expect(await http1Get(port, "/v1/products", "127.0.0.3")).toBe("HTTP/1.1 200 OK");
    const h2 = connectHttp2(`http://127.0.0.1:${port}`, {
      createConnection: () => connect({ port, host: "127.0.0.1", localAddress: "127.0.0.3" }),
    });
    h2.on("error", () => undefined);
    const h2Status = await new Promise<number>((resolve, reject) => {
      const request = h2.request({ ":method": "GET", ":path": "/v1/products" });
      request.on("response", (headers) => resolve(Number(headers[":status"])));
      request.on("data", () => undefined);
      request.on("error", reject);
    });
    expect(h2Status).toBe(200);
    h2.close();
    held[0]?.destroy();
    await closed(held[0] as Socket);
    expect(await http1GetOnceFree(port, "/v1/products", "127.0.0.2")).toBe("HTTP/1.1 200 OK");
    held[1]?.destroy();
  });
});

describe("slow requests are cut (GATEWAY_REQUEST_TIMEOUT_MS, GATEWAY_HEADERS_TIMEOUT_MS)", () => {
  it("over HTTP/1.1: a body trickling in a byte at a time is cut, long before it could finish", async () => {
    const socket = await openSocket(timed.gateway.port);
    socket.on("error", () => undefined);
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    socket.write("POST /v1/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n");
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write("{");
      sent++;
    }, 100);
    await closed(socket);
    clearInterval(trickle);
    expect(sent).toBeLessThan(1000);
    expect(received === "" || received.startsWith("HTTP/1.1 408")).toBe(true);
  });

  it("over HTTP/2: a body trickling in is cut, while the same connection's other requests are served", async () => {
    const session = connectHttp2(timed.baseUrl);
    session.on("error", () => undefined);
    const slow = session.request({
      ":method": "POST",
      ":path": "/shop.inventory.v1.InventoryService/GetProduct",
      "content-type": "application/json",
    });
    slow.on("error", () => undefined);
    let status = 0;
    slow.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    slow.on("data", () => undefined);
    let sent = 0;
    const trickle = setInterval(() => {
      if (!slow.closed) slow.write(" ");
      sent++;
    }, 100);
    const other = await new Promise<number>((resolve, reject) => {
      const request = session.request({ ":method": "GET", ":path": "/v1/products" });
      request.on("response", (headers) => resolve(Number(headers[":status"])));
      request.on("data", () => undefined);
      request.on("error", reject);
    });
    expect(other).toBe(200);
    await new Promise<void>((resolve) => slow.once("close", () => resolve()));
    clearInterval(trickle);
    expect(sent).toBeLessThan(1000);
    expect(status === 0 || status === 408).toBe(true);
    session.close();
  });

  it("over HTTP/2: a session that opens no request within the headers timeout is closed", async () => {
    const session = connectHttp2(timed.baseUrl);
    session.on("error", () => undefined);
    await new Promise<void>((resolve) => session.once("close", () => resolve()));
    expect(session.destroyed).toBe(true);
  });
});
