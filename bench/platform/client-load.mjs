// One client process calling GetProduct in a closed loop, for the client side of a call: the
// platform's createClient against a bare @grpc/grpc-js client, same server, same message.
// Measures this process's own CPU (process.cpuUsage) per call over the measured window.
//   node client-load.mjs '{"kind":"platform|platform-explicit|platform-h2|platform-h2-explicit|grpc-js|http2","port":1234,"concurrency":16,"seconds":3,"warmupSeconds":1}'
// `platform` is a client as a service makes it (implicit context: AsyncLocalStorage on, as in
// order); `platform-explicit` is implicitContext: false (as the gateway passes the context itself).
// Prints one JSON line: { requests, failed, seconds, cpuUsPerCall, latenciesUs }.
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  GetProductRequestSchema,
  GetProductResponseSchema,
  InventoryService,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";

const spec = JSON.parse(process.argv[2]);
const target = `127.0.0.1:${spec.port}`;
const SKU = process.env.BENCH_SKU ?? "SKU-MUG-001";

/** The same call through either client: resolves to the response message. */
async function makeCaller(kind) {
  if (kind === "http2") {
    // The floor: raw node:http2 with the same protobuf-es (de)serialization, no gRPC library.
    const http2 = await import("node:http2");
    const session = http2.connect(`http://${target}`);
    const headers = {
      ":method": "POST",
      ":path": "/shop.inventory.v1.InventoryService/GetProduct",
      "content-type": "application/grpc",
      te: "trailers",
    };
    return {
      call: (request) =>
        new Promise((resolve, reject) => {
          const message = toBinary(GetProductRequestSchema, create(GetProductRequestSchema, request));
          const frame = Buffer.alloc(5 + message.length);
          frame.writeUInt32BE(message.length, 1);
          frame.set(message, 5);
          const stream = session.request(headers);
          const chunks = [];
          let status;
          stream.on("data", (chunk) => chunks.push(chunk));
          stream.on("trailers", (t) => (status = t["grpc-status"]));
          stream.on("error", reject);
          stream.on("close", () =>
            status === "0"
              ? resolve(fromBinary(GetProductResponseSchema, Buffer.concat(chunks).subarray(5)))
              : reject(new Error(`grpc-status ${status}`)),
          );
          stream.end(frame);
        }),
      close: () => session.close(),
    };
  }
  if (kind === "grpc-js") {
    // A bare grpc-js client with protobuf-es (de)serialization, default channel options, promise-wrapped.
    const client = new grpc.Client(target, grpc.credentials.createInsecure());
    const serialize = (value) => {
      const bytes = toBinary(
        GetProductRequestSchema,
        isMessage(value, GetProductRequestSchema) ? value : create(GetProductRequestSchema, value),
      );
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    };
    const deserialize = (bytes) => fromBinary(GetProductResponseSchema, bytes);
    const path = "/shop.inventory.v1.InventoryService/GetProduct";
    return {
      call: (request) =>
        new Promise((resolve, reject) => {
          client.makeUnaryRequest(
            path,
            serialize,
            deserialize,
            request,
            new grpc.Metadata(),
            { deadline: Date.now() + 5_000 },
            (error, response) => (error ? reject(error) : resolve(response)),
          );
        }),
      close: () => client.close(),
    };
  }
  const platform = await import(process.env.PLATFORM_DIST ? `${process.env.PLATFORM_DIST}/index.js` : "@shop/platform");
  // `platform-h2`, `platform-h2-explicit`: the same, unary calls on the platform's http2 transport.
  const client = platform.createClient(InventoryService, target, {
    implicitContext: !kind.endsWith("-explicit"),
    ...(kind.startsWith("platform-h2") ? { transport: "http2" } : {}),
  });
  return { call: (request) => client.getProduct(request), close: () => client.close() };
}

const caller = await makeCaller(spec.kind);
let requests = 0;
let failed = 0;
let measuring = false;
const latenciesUs = [];

async function loop(until) {
  while (performance.now() < until) {
    const started = performance.now();
    try {
      const response = await caller.call({ sku: SKU });
      if (response.product?.sku !== SKU) failed += measuring ? 1 : 0;
    } catch {
      if (measuring) failed += 1;
    }
    if (measuring) {
      requests += 1;
      if (requests % 4 === 0) latenciesUs.push((performance.now() - started) * 1000);
    }
  }
}

const run = (seconds) => {
  const until = performance.now() + seconds * 1000;
  return Promise.all(Array.from({ length: spec.concurrency }, () => loop(until)));
};
await run(spec.warmupSeconds ?? 1);
measuring = true;
// CPU_PROFILE=<file>: a V8 CPU profile of the measured window alone (not start-up or warm-up).
const session = process.env.CPU_PROFILE ? new (await import("node:inspector/promises")).Session() : undefined;
if (session) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
}
const cpuBefore = process.cpuUsage();
const began = performance.now();
await run(spec.seconds);
const seconds = (performance.now() - began) / 1000;
const cpu = process.cpuUsage(cpuBefore);
caller.close();
if (session) {
  const { profile } = await session.post("Profiler.stop");
  (await import("node:fs")).writeFileSync(process.env.CPU_PROFILE, JSON.stringify(profile));
}
// A pipe's writes are asynchronous: exit once the line (hundreds of KiB of latencies) is out, not before.
const line = `${JSON.stringify({ requests, failed, seconds, cpuUsPerCall: (cpu.user + cpu.system) / requests, latenciesUs })}\n`;
process.stdout.write(line, () => process.exit(0));
