import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";
import { ServerReflectionRequestSchema, ServerReflectionResponseSchema } from "@shop/contracts/grpc/reflection/v1/reflection_pb";
import {
  GetProductRequestSchema,
  GetProductResponseSchema,
  InventoryService,
} from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pythonWithGrpc } from "../../../scripts/python-grpc.mjs";
import { createClient, type RunningServer } from "../src/index.js";
import { callingAs, testCertificateFiles } from "../src/testing/certificates.js";
import { inventoryRegistration, startServer } from "./inventory-fixture.js";

const run = promisify(execFile);
const BUF = new URL("../../../node_modules/.bin/buf", import.meta.url).pathname;

/** buf curl over mTLS, presenting the gateway's test certificate (reflection and health answer any mesh workload). */
async function bufCurl(args: string[]): Promise<string> {
  const { ca, cert, key } = testCertificateFiles("gateway");
  const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", ca, "--cert", cert, "--key", key, ...args], {
    timeout: 20_000,
  });
  return stdout;
}

describe("wire compatibility with clients we did not write", () => {
  let server: RunningServer;
  let dependencyUp = true;

  beforeAll(async () => {
    server = await startServer([inventoryRegistration()], { readiness: { database: async () => dependencyUp } });
  });
  afterAll(async () => {
    await server.shutdown();
  });

  it("answers buf curl's gRPC call using descriptors from server reflection", async () => {
    const out = await bufCurl(["--data", '{"sku":"SKU-1"}', `https://${server.address}/shop.inventory.v1.InventoryService/GetProduct`]);
    const body = JSON.parse(out) as { product: { sku: string; price: { amountMinor: string } } };
    expect(body.product.sku).toBe("SKU-1");
    expect(body.product.price.amountMinor).toBe("1250");
  });

  it("lists every served method through reflection (v1 and v1alpha)", async () => {
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const out = await bufCurl(["--reflect-protocol", protocol, "--list-methods", `https://${server.address}`]);
      expect(out).toContain("shop.inventory.v1.InventoryService/GetProduct");
      expect(out).toContain("shop.inventory.v1.InventoryService/ReserveStock");
      expect(out).toContain("grpc.health.v1.Health/Watch");
    }
  });

  it("describes a service through reflection with its file and imports", async () => {
    const out = await bufCurl([
      "--data",
      '{"file_containing_symbol":"shop.inventory.v1.InventoryService"}',
      `https://${server.address}/grpc.reflection.v1.ServerReflection/ServerReflectionInfo`,
    ]);
    const response = JSON.parse(out) as { fileDescriptorResponse: { fileDescriptorProto: string[] } };
    const files = response.fileDescriptorResponse.fileDescriptorProto.map((b64) => Buffer.from(b64, "base64").toString("latin1"));
    expect(files.some((f) => f.includes("shop/inventory/v1/inventory_service.proto") && f.includes("GetProduct"))).toBe(true);
    expect(files.some((f) => f.startsWith("\n\x1fshop/inventory/v1/product.proto"))).toBe(true);
  });

  it("answers Python grpcio (C-core), including a NOT_FOUND status", async () => {
    const request = Buffer.from(toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { sku: "SKU-1" }))).toString("hex");
    const script = [
      "import grpc, sys",
      "read = lambda path: open(path, 'rb').read()",
      `creds = grpc.ssl_channel_credentials(read('${testCertificateFiles("gateway").ca}'), read('${testCertificateFiles("gateway").key}'), read('${testCertificateFiles("gateway").cert}'))`,
      `ch = grpc.secure_channel('${server.address}', creds)`,
      "call = ch.unary_unary('/shop.inventory.v1.InventoryService/GetProduct')",
      `print(call(bytes.fromhex('${request}'), timeout=5).hex())`,
      "try:",
      "    call(bytes.fromhex('0a0378797a'), timeout=5)",
      "except grpc.RpcError as e:",
      "    print(e.code().name, e.details())",
    ].join("\n");
    // The interpreter scripts/ensure-tools.mjs checked (Debian's /usr/bin/python3 or the python3 on PATH).
    const python = (await pythonWithGrpc()) ?? "/usr/bin/python3";
    const { stdout } = await run(python, ["-c", script], { timeout: 20_000 });
    const [hex, status] = stdout.trim().split("\n");
    const response = fromBinary(GetProductResponseSchema, Buffer.from(hex ?? "", "hex"));
    expect(response.product?.name).toBe("Enamel mug");
    expect(status).toBe('NOT_FOUND product "xyz" not found');
  });

  it("reports health with Check and streams a status change with Watch", async () => {
    const health = createClient(Health, server.address, { ...callingAs("gateway"), breaker: false });
    try {
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
      expect((await health.check({ service: "shop.inventory.v1.InventoryService" })).status).toBe(ServingStatus.SERVING);
      const abort = new AbortController();
      const seen: ServingStatus[] = [];
      for await (const update of health.watch({ service: "shop.inventory.v1.InventoryService" }, { signal: abort.signal })) {
        seen.push(update.status);
        if (seen.length === 1) dependencyUp = false; // the readiness poller flips it within ~100 ms
        if (seen.length === 2) break;
      }
      abort.abort();
      expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
      const readyz = await fetch(`http://127.0.0.1:${server.adminPort}/readyz`);
      expect(readyz.status).toBe(503);
      dependencyUp = true;
      // The next readiness check sees it: wait for that event (failing after 10 s), not for a window.
      for (const deadline = Date.now() + 10_000; (await health.check({ service: "" })).status !== ServingStatus.SERVING; ) {
        if (Date.now() > deadline) throw new Error("health never went back to SERVING");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect((await fetch(`http://127.0.0.1:${server.adminPort}/readyz`)).status).toBe(200);
    } finally {
      dependencyUp = true;
      health.close();
    }
  });

  it("exposes the calls made, with their codes, on /metrics, and liveness on /healthz", async () => {
    const client = createClient(InventoryService, server.address, { ...callingAs("gateway"), breaker: false });
    await client.getProduct({ sku: "SKU-1" });
    await client.getProduct({ sku: "missing" }).catch(() => undefined);
    client.close();
    const metrics = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
    expect(metrics).toMatch(
      /grpc_server_handled_total\{grpc_service="shop.inventory.v1.InventoryService",grpc_method="GetProduct",grpc_code="OK"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /grpc_server_handled_total\{grpc_service="shop.inventory.v1.InventoryService",grpc_method="GetProduct",grpc_code="NOT_FOUND"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /grpc_client_handled_total\{grpc_target="[^"]+",grpc_service="shop.inventory.v1.InventoryService",grpc_method="GetProduct",grpc_code="NOT_FOUND"\} 1/,
    );
    expect(metrics).toContain("grpc_server_handling_seconds_bucket");
    expect(metrics).toContain("process_cpu_seconds_total");
    expect((await fetch(`http://127.0.0.1:${server.adminPort}/healthz`)).status).toBe(200);
  });

  it("reports an idle event loop's lag near zero (nodejs_eventloop_lag_p50_seconds)", async () => {
    // Node's delay histogram counts its sampling interval into every value: sampled every 100 ms
    // instead of prom-client's 10, an idle loop read ~0.1 s, where the usual alerts start (metrics.ts).
    const metricsText = async () => (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
    await metricsText(); // the histogram starts over after each scrape
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(Number(/^nodejs_eventloop_lag_p50_seconds (\S+)$/m.exec(await metricsText())?.[1])).toBeLessThan(0.05);
  });
});

describe("server reflection, loaded on its first call", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer([inventoryRegistration()]);
  });
  afterAll(async () => {
    await server.shutdown();
  });

  /** One ServerReflectionInfo stream over mTLS: sends each request frame, resolves to the answer frames and the grpc-status. */
  function reflect(frames: Buffer[]): Promise<{ messages: Buffer[]; status: string | undefined }> {
    const { ca, cert, key } = testCertificateFiles("gateway");
    const session = http2.connect(`https://${server.address}`, {
      ca: readFileSync(ca),
      cert: readFileSync(cert),
      key: readFileSync(key),
      checkServerIdentity: () => undefined,
    });
    return new Promise((resolve, reject) => {
      session.on("error", reject);
      const stream = session.request({
        ":method": "POST",
        ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      stream.on("response", (headers) => (status ??= headers["grpc-status"] as string | undefined));
      stream.on("trailers", (trailers) => (status = trailers["grpc-status"] as string | undefined));
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("end", () => {
        session.close();
        const body = Buffer.concat(chunks);
        const messages: Buffer[] = [];
        for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1))
          messages.push(body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)));
        resolve({ messages, status });
      });
      for (const frame of frames) stream.write(frame);
      stream.end();
    });
  }
  const listServices = () => {
    const message = toBinary(
      ServerReflectionRequestSchema,
      create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "*" } }),
    );
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    return frame;
  };

  it("answers three streams that arrive together before it is loaded, each request in order", async () => {
    const answers = await Promise.all([reflect([listServices()]), reflect([listServices(), listServices()]), reflect([listServices()])]);
    expect(answers.map((a) => [a.status, a.messages.length])).toEqual([
      ["0", 1],
      ["0", 2],
      ["0", 1],
    ]);
    for (const { messages } of answers) {
      for (const message of messages) {
        const response = fromBinary(ServerReflectionResponseSchema, message);
        expect(response.messageResponse.case).toBe("listServicesResponse");
        const names =
          response.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service.map((s) => s.name) : [];
        expect(names).toContain("shop.inventory.v1.InventoryService");
      }
    }
  });

  it("ends a stream whose request cannot be decoded with INTERNAL, and goes on answering others", async () => {
    const garbage = Buffer.from([0, 0, 0, 0, 1, 0x0f]); // field 1 with wire type 7, which does not exist
    const broken = await reflect([garbage]);
    expect(broken.status).toBe("13");
    const next = await reflect([listServices()]);
    expect(next.status).toBe("0");
    expect(next.messages).toHaveLength(1);
  });
});
