#!/usr/bin/env node
// The floor of a Node hop in front of inventory: the least a gateway process could do per call and
// still do the gateway's job, measured beside the gateway in part `gateway`. Like the gateway, a
// node:cluster of WORKERS processes sharing its ports, each with one pooled HTTP/2 session to the
// upstream — and nothing else: no token, rate limit, deadline, validation, logging, metrics,
// tracing, error mapping or compression.
//   - h2c port: gRPC passed through as bytes (request body and response DATA and trailers untouched);
//   - HTTP/1.1 port: Connect JSON (POST <GetProduct path>, JSON body) and REST (GET /v1/products/{sku})
//     transcoded with protobuf-es (JSON → binary, framed; the answer unframed, binary → JSON).
// Usage: node bench/gateway/floor-proxy.mjs <upstream host:port> <h2c port> <http/1.1 port> [workers=2]
// Prints "floor-proxy ready" once every worker listens on both ports.
import cluster from "node:cluster";
import http from "node:http";
import http2 from "node:http2";
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { GetProductRequestSchema, GetProductResponseSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";

const [upstream, h2Port, h1Port, workerCount = "2"] = process.argv.slice(2);
if (!upstream || !h2Port || !h1Port) throw new Error("usage: floor-proxy.mjs <upstream host:port> <h2c port> <http/1.1 port> [workers]");
const GET_PRODUCT = "/shop.inventory.v1.InventoryService/GetProduct";
const REST_PREFIX = "/v1/products/";

if (cluster.isPrimary) {
  const workers = Number(workerCount);
  let listening = 0;
  cluster.on("listening", () => {
    if (++listening === workers * 2) console.log("floor-proxy ready");
  });
  cluster.on("exit", (_worker, code, signal) => {
    if (signal !== "SIGTERM" && code !== 0) {
      console.error(`floor-proxy worker exited (${code ?? signal})`);
      process.exit(1);
    }
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
    process.exit(0);
  });
} else {
  let session;
  const upstreamSession = () => {
    if (!session || session.closed || session.destroyed) {
      session = http2.connect(`http://${upstream}`);
      session.on("error", () => {});
    }
    return session;
  };

  /** One gRPC unary call upstream with `frame`; resolves to { headers, body, trailers }. */
  const callUpstream = (path, frame) =>
    new Promise((resolve, reject) => {
      const req = upstreamSession().request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
      const chunks = [];
      let headers;
      req.on("response", (h) => {
        headers = h;
      });
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("trailers", (trailers) => resolve({ headers, body: Buffer.concat(chunks), trailers }));
      req.on("end", () => resolve({ headers, body: Buffer.concat(chunks), trailers: {} }));
      req.on("error", reject);
      req.end(frame);
    });

  // gRPC: bytes in, bytes out.
  const h2 = http2.createServer();
  h2.on("stream", (stream, headers) => {
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", async () => {
      try {
        const answer = await callUpstream(headers[":path"], Buffer.concat(chunks));
        const { ":status": status = 200, ...responseHeaders } = answer.headers ?? {};
        if ("grpc-status" in responseHeaders) {
          stream.respond({ ":status": status, ...responseHeaders }, { endStream: true });
          return;
        }
        stream.respond({ ":status": status, ...responseHeaders }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(answer.trailers));
        stream.end(answer.body);
      } catch {
        if (!stream.destroyed)
          stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14" }, { endStream: true });
      }
    });
  });
  h2.listen(Number(h2Port), "127.0.0.1");

  // Connect JSON and REST: JSON ↔ binary around the same upstream call.
  const h1 = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      try {
        const request =
          req.method === "GET" && req.url.startsWith(REST_PREFIX)
            ? create(GetProductRequestSchema, { sku: decodeURIComponent(req.url.slice(REST_PREFIX.length)) })
            : fromJsonString(GetProductRequestSchema, Buffer.concat(chunks).toString("utf8"));
        const message = toBinary(GetProductRequestSchema, request);
        const frame = Buffer.alloc(5 + message.length);
        frame.writeUInt32BE(message.length, 1);
        frame.set(message, 5);
        const answer = await callUpstream(GET_PRODUCT, frame);
        const status = answer.trailers["grpc-status"] ?? answer.headers?.["grpc-status"];
        if (status !== "0" || answer.body.length < 5) {
          res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ code: "unavailable" }));
          return;
        }
        const body = toJsonString(GetProductResponseSchema, fromBinary(GetProductResponseSchema, answer.body.subarray(5)));
        res.writeHead(200, { "content-type": "application/json" }).end(body);
      } catch {
        res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ code: "internal" }));
      }
    });
  });
  h1.keepAliveTimeout = 60_000;
  h1.listen(Number(h1Port), "127.0.0.1");
}
