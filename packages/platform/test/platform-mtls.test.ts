import { readFileSync } from "node:fs";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Client, credentials } from "@grpc/grpc-js";
import { Health } from "@shop/contracts/grpc/health/v1/health_pb";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccessPolicy, createClient, errorInfo, type RunningServer, service } from "../src/index.js";
import { callingAs, testCertificateFiles, testCertificatesDir, untrustedCertificate } from "../src/testing/certificates.js";
import { issueCertificate, loadAuthority, writeWorkloadFiles } from "../src/tls/development-ca.js";
import { CLIENT_TRANSPORTS, startServer, testInventory } from "./inventory-fixture.js";

/** A small table like a real service's: reads by the gateway, holds by order, only the gateway names users. */
const access: AccessPolicy<typeof InventoryService> = {
  callers: {
    getProduct: ["gateway"],
    listProducts: ["gateway"],
    reserveStock: ["order"],
    commitReservation: ["order"],
    releaseReservation: ["order"],
    restockProduct: ["operator"],
  },
  userAsserters: ["gateway"],
};

const seenUsers: (string | null)[] = [];
const registration = service(
  InventoryService,
  testInventory({
    async getProduct({ sku }, ctx) {
      seenUsers.push(ctx.requestHeader.get("x-user-id"));
      return { product: { sku, name: "Enamel mug" } };
    },
    async reserveStock({ reservationId }) {
      return { reservation: { reservationId } };
    },
  }) as ServiceImpl<typeof InventoryService>,
  access,
);

function refusal(error: unknown): { code: Code; reason: string | undefined } {
  expect(error).toBeInstanceOf(ConnectError);
  return { code: (error as ConnectError).code, reason: errorInfo(error)?.reason };
}

describe.each(CLIENT_TRANSPORTS)("mTLS and access by workload identity (%s client)", (transport) => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer([registration]);
  });
  afterAll(() => server.shutdown());

  function as(workload: string) {
    return createClient(InventoryService, server.address, { transport, ...callingAs(workload, "inventory"), retry: false, breaker: false });
  }

  it("says who it is: the SPIFFE ID of its certificate", () => {
    expect(server.identity?.uri).toBe("spiffe://shop.mesh/inventory");
  });

  it("lets each method's listed workloads call it", async () => {
    expect((await as("gateway").getProduct({ sku: "SKU-1" })).product?.name).toBe("Enamel mug");
    const lines = [{ sku: "SKU-1", quantity: 1 }];
    expect((await as("order").reserveStock({ reservationId: "r-1", lines })).reservation?.reservationId).toBe("r-1");
  });

  it("refuses any other workload with PERMISSION_DENIED and reason CALLER_NOT_ALLOWED, before the handler runs", async () => {
    const before = seenUsers.length;
    for (const [workload, call] of [
      ["order", (c: ReturnType<typeof as>) => c.getProduct({ sku: "SKU-1" })],
      ["payment", (c: ReturnType<typeof as>) => c.getProduct({ sku: "SKU-1" })],
      ["gateway", (c: ReturnType<typeof as>) => c.reserveStock({ reservationId: "r-2", lines: [] })],
      ["operator", (c: ReturnType<typeof as>) => c.getProduct({ sku: "SKU-1" })],
    ] as const) {
      const error = await call(as(workload)).catch((e: unknown) => e);
      expect(refusal(error), workload).toEqual({ code: Code.PermissionDenied, reason: "CALLER_NOT_ALLOWED" });
      expect((error as ConnectError).rawMessage).toContain(`spiffe://shop.mesh/${workload} may not call`);
    }
    expect(seenUsers.length).toBe(before);
  });

  it("passes the end user on only from a workload trusted to name one; from any other it refuses the call", async () => {
    await as("gateway").getProduct({ sku: "SKU-1" }, { headers: { "x-user-id": "alice" } });
    expect(seenUsers.at(-1)).toBe("alice");
    const forged = await as("order")
      .reserveStock({ reservationId: "r-3", lines: [] }, { headers: { "x-user-id": "bob" } })
      .catch((e: unknown) => e);
    expect(refusal(forged)).toEqual({ code: Code.PermissionDenied, reason: "USER_ASSERTION_NOT_ALLOWED" });
  });

  it("answers health checks from any workload of the mesh", async () => {
    const health = createClient(Health, server.address, { transport, ...callingAs("payment", "inventory"), retry: false, breaker: false });
    expect((await health.check({ service: "" })).status).toBeGreaterThan(0);
  });

  it("completes no call for a client without a certificate, with one from another CA, or with an expired one", async () => {
    // Raw grpc-js clients: the platform's own client would not even present a bad certificate.
    const ca = readFileSync(testCertificateFiles("gateway").ca);
    const foreign = await untrustedCertificate("foreign", "gateway");
    const expired = await untrustedCertificate("expired", "gateway");
    const presenting = (dir: string) => credentials.createSsl(ca, readFileSync(join(dir, "tls.key")), readFileSync(join(dir, "tls.crt")));
    const call = (channelCredentials: ReturnType<typeof credentials.createInsecure>) => {
      const client = new Client(server.address, channelCredentials, { "grpc.ssl_target_name_override": "inventory" });
      return new Promise<{ code?: number } | undefined>((resolve) =>
        client.makeUnaryRequest(
          "/shop.inventory.v1.InventoryService/GetProduct",
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          Buffer.from("0a05534b552d31", "hex"),
          { deadline: Date.now() + 2_000 },
          (e) => resolve(e ?? undefined),
        ),
      ).finally(() => client.close());
    };
    // The same raw client with the gateway's real certificate gets through: what fails below is the certificate.
    expect(await call(presenting(join(testCertificatesDir(), "gateway")))).toBeUndefined();
    const attempts = {
      plaintext: credentials.createInsecure(),
      noCertificate: credentials.createSsl(ca),
      foreign: presenting(foreign),
      expired: presenting(expired),
    };
    for (const [name, channelCredentials] of Object.entries(attempts)) {
      const error = await call(channelCredentials);
      expect(error, name).toBeDefined();
      expect([Code.Unavailable, Code.DeadlineExceeded], name).toContain(error?.code);
    }
    await Promise.all([rm(foreign, { recursive: true }), rm(expired, { recursive: true })]);
  });

  it("refuses a server that is not the workload the client expects", async () => {
    const client = createClient(InventoryService, server.address, {
      transport,
      ...callingAs("gateway", "payment"),
      retry: false,
      breaker: false,
    });
    const error = await client.getProduct({ sku: "SKU-1" }, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect((error as ConnectError).rawMessage).toContain("expected the server to be payment");
  });
});

describe.each(CLIENT_TRANSPORTS)("certificate rotation (%s client)", (transport) => {
  it("serves a re-issued certificate from the files without a restart", async () => {
    const root = await mkdtemp(join(tmpdir(), "mesh-rotate-"));
    await cp(join(testCertificatesDir(), "inventory"), join(root, "inventory"), { recursive: true });
    const server = await startServer([registration], {}, { INVENTORY_TLS_DIR: join(root, "inventory"), MESH_TLS_REFRESH_MS: "100" });
    try {
      const before = await servedCertificate(server.port);
      const ca = await loadAuthority(join(testCertificatesDir(), "ca"));
      const renewed = await issueCertificate(ca!, { trustDomain: "shop.mesh", workload: "inventory" });
      await writeWorkloadFiles(join(root, "inventory"), renewed, readFileSync(join(testCertificatesDir(), "ca", "ca.crt"), "utf8"));
      let after = before;
      for (let i = 0; i < 50 && after === before; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        after = await servedCertificate(server.port);
      }
      expect(after).not.toBe(before);
      const client = createClient(InventoryService, server.address, {
        transport,
        ...callingAs("gateway", "inventory"),
        retry: false,
        breaker: false,
      });
      expect((await client.getProduct({ sku: "SKU-1" })).product?.name).toBe("Enamel mug");
      client.close();
    } finally {
      await server.shutdown();
      await rm(root, { recursive: true, force: true });
    }
  });
});

/** The fingerprint of the certificate the server presents to a new TLS connection. */
function servedCertificate(port: number): Promise<string> {
  const { ca, cert, key } = testCertificateFiles("gateway");
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        port,
        ca: readFileSync(ca),
        cert: readFileSync(cert),
        key: readFileSync(key),
        ALPNProtocols: ["h2"],
        servername: "inventory",
      },
      () => {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        socket.destroy();
        resolve(fingerprint);
      },
    );
    socket.on("error", reject);
  });
}
