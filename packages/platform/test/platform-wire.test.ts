import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";
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
});
