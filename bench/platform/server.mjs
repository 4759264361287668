// One benchmark target per process: `node server.mjs platform|platform-unvalidated|platform-propagating|platform-mtls|grpc-js|grpc-js-no-channelz|grpc-js-mtls|http2`.
// `platform-unvalidated` is the platform with request validation (buf.validate) off: the difference is what validation costs.
// The -mtls kinds need CERTS_DIR (a folder of test certificates); grpc-js-no-channelz and -mtls run without channelz.
// `platform-propagating` is the platform with async context propagation on, as in a service that
// makes outgoing calls (order, the gateway): AsyncLocalStorage carries the incoming call and span.
// Prints {"port":N} on stderr once listening (stdout carries the platform's JSON call logs). All three answer GetProduct with the same message.
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  GetProductRequestSchema,
  GetProductResponseSchema,
  InventoryService,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { product } from "../src/product.mjs";

const kind = process.argv[2];
/** The platform under test: the built package, or (A/B, bench/platform/ab.mjs) an earlier build's copy in PLATFORM_DIST. */
const platformModule = () => (process.env.PLATFORM_DIST ? import(`${process.env.PLATFORM_DIST}/index.js`) : import("@shop/platform"));

function ready(port) {
  process.stderr.write(`${JSON.stringify({ port })}\n`);
}

/**
 * With CPU_PROFILE=<file>: SIGUSR2 starts a V8 CPU profile, the next SIGUSR2 writes it to the file
 * (bench/platform/profile.mjs), so the profile holds the measured load alone, not start-up.
 */
if (process.env.CPU_PROFILE) {
  const { Session } = await import("node:inspector/promises");
  const { writeFileSync } = await import("node:fs");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  let profiling = false;
  process.on("SIGUSR2", async () => {
    if (!profiling) {
      profiling = true;
      await session.post("Profiler.start");
      process.stderr.write("profiling\n");
    } else {
      profiling = false;
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(process.env.CPU_PROFILE, JSON.stringify(profile));
      process.stderr.write("profile written\n");
    }
  });
}

/** Exits normally on SIGTERM, so `node --cpu-prof` writes its profile (bench/report/profile.mjs). */
function exitOnSigterm(close) {
  process.once("SIGTERM", () => {
    close();
    process.exit(0);
  });
}

if (kind === "platform" || kind === "platform-propagating" || kind === "platform-unvalidated") {
  const { enableContextPropagation, loadServiceConfig, openAccess, serve } = await platformModule();
  if (kind === "platform-propagating") enableContextPropagation();
  // Plaintext, like the bare servers it is compared with: h2load cannot present a client certificate.
  const config = loadServiceConfig(
    "inventory",
    { port: 0, adminPort: 0, certRoot: "" },
    { ...process.env, INVENTORY_PORT: "0", INVENTORY_ADMIN_PORT: "0", HOST: "127.0.0.1", MESH_TLS: "off" },
  );
  const server = await serve(config, [[InventoryService, { getProduct: ({ sku }) => product(sku) }, openAccess(InventoryService)]], {
    validateRequests: kind !== "platform-unvalidated",
  });
  ready(server.port);
} else if (kind === "platform-mtls") {
  // The platform as a service runs it: mTLS (the inventory's certificate from CERTS_DIR) and the
  // inventory's access table checked on every call (GetProduct: gateway, order).
  const { loadServiceConfig, serve } = await platformModule();
  const { inventoryAccess } = await import("@shop/inventory/access");
  const config = loadServiceConfig(
    "inventory",
    { port: 0, adminPort: 0, certRoot: process.env.CERTS_DIR },
    { ...process.env, INVENTORY_PORT: "0", INVENTORY_ADMIN_PORT: "0", HOST: "127.0.0.1", MESH_TLS: "on" },
  );
  const server = await serve(config, [[InventoryService, { getProduct: ({ sku }) => product(sku) }, inventoryAccess]]);
  ready(server.port);
} else if (kind === "grpc-js" || kind === "grpc-js-no-channelz" || kind === "grpc-js-mtls") {
  // A bare grpc-js server: same protobuf-es (de)serialization, no interceptors, no context.
  // `grpc-js-no-channelz` turns channelz off as the platform does, to show the interceptors' cost alone.
  const server = new grpc.Server(kind === "grpc-js" ? {} : { "grpc.enable_channelz": 0 });
  const serialize = (schema) => (value) => {
    const bytes = toBinary(schema, isMessage(value, schema) ? value : create(schema, value));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  server.addService(
    {
      getProduct: {
        path: "/shop.inventory.v1.InventoryService/GetProduct",
        requestStream: false,
        responseStream: false,
        requestSerialize: serialize(GetProductRequestSchema),
        requestDeserialize: (bytes) => fromBinary(GetProductRequestSchema, bytes),
        responseSerialize: serialize(GetProductResponseSchema),
        responseDeserialize: (bytes) => fromBinary(GetProductResponseSchema, bytes),
      },
    },
    { getProduct: (call, callback) => callback(null, product(call.request.sku)) },
  );
  // grpc-js-mtls: the same TLS as the platform's, client certificate required, no access check.
  const dir = `${process.env.CERTS_DIR}/inventory`;
  const credentials =
    kind === "grpc-js-mtls"
      ? grpc.ServerCredentials.createSsl(
          readFileSync(`${dir}/ca.crt`),
          [{ private_key: readFileSync(`${dir}/tls.key`), cert_chain: readFileSync(`${dir}/tls.crt`) }],
          true,
        )
      : grpc.ServerCredentials.createInsecure();
  server.bindAsync("127.0.0.1:0", credentials, (error, port) => {
    if (error) throw error;
    ready(port);
  });
  exitOnSigterm(() => server.forceShutdown());
} else if (kind === "http2") {
  // The ceiling for one Node process: decode the request, encode the answer, raw frames.
  const server = http2.createServer();
  server.on("stream", (stream) => {
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      const request = fromBinary(GetProductRequestSchema, body.subarray(5));
      const message = toBinary(GetProductResponseSchema, create(GetProductResponseSchema, product(request.sku)));
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame);
    });
  });
  server.listen(0, "127.0.0.1", () => ready(server.address().port));
  exitOnSigterm(() => server.close());
} else {
  console.error("usage: node server.mjs platform|platform-propagating|grpc-js|grpc-js-no-channelz|http2");
  process.exit(2);
}
