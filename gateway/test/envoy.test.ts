// gateway/envoy/envoy.yaml must expose exactly what the Node gateway exposes: the methods with
// google.api.http annotations. These checks read the YAML and the contracts, so adding an
// annotation (or removing one) without updating Envoy fails here.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadGatewayConfig } from "../src/config.js";
import { publicMethods as publicMethodsOf } from "../src/surface/public-surface.js";
import { SERVICE_CATALOGUE } from "../src/surface/service-catalogue.js";
import { repoRoot } from "./mesh.js";

interface EnvoyRoute {
  name?: string;
  match: { path?: string; prefix?: string };
  route?: { cluster: string; timeout?: string; retry_policy?: { retry_on: string } };
  direct_response?: { status: number };
}

interface EnvoyFilter {
  name: string;
  typed_config: Record<string, unknown>;
}

async function envoyConfig() {
  const config = parse(await readFile(join(repoRoot, "gateway/envoy/envoy.yaml"), "utf8"));
  const manager = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const routes: EnvoyRoute[] = manager.route_config.virtual_hosts.flatMap((host: { routes: EnvoyRoute[] }) => host.routes);
  const filters: EnvoyFilter[] = manager.http_filters;
  const clusters: {
    name: string;
    health_checks?: { grpc_health_check?: unknown }[];
    outlier_detection?: unknown;
    transport_socket?: { typed_config: Record<string, unknown> };
  }[] = config.static_resources.clusters;
  return { routes, filters, clusters };
}

const CLUSTER_OF: Record<string, string> = {
  "shop.order.v1.OrderService": "order",
  "shop.inventory.v1.InventoryService": "inventory",
  "shop.notification.v1.NotificationService": "notification",
};

/** The surface of the Node gateway with its default configuration, which envoy.yaml mirrors. */
const publicMethods = () => publicMethodsOf(loadGatewayConfig({}).frontedServices);

describe("envoy.yaml against the contracts", () => {
  it("routes every annotated method, to its service's cluster", async () => {
    const { routes } = await envoyConfig();
    for (const method of publicMethods()) {
      const route = routes.find((r) => r.match.path === method.path);
      expect(route, method.path).toBeDefined();
      expect(route?.route?.cluster, method.path).toBe(CLUSTER_OF[method.service.typeName]);
    }
  });

  it("routes no internal method, and answers everything else with a 404", async () => {
    const { routes } = await envoyConfig();
    const publicPaths = new Set(publicMethods().map((m) => m.path));
    const routed = routes.filter((r) => r.route).map((r) => r.match.path);
    expect(routed.every((path) => path !== undefined && publicPaths.has(path))).toBe(true);
    const internal = SERVICE_CATALOGUE.flatMap((s) => s.methods.map((m) => `/${s.typeName}/${m.name}`)).filter((p) => !publicPaths.has(p));
    expect(internal).toContain("/shop.inventory.v1.InventoryService/ReserveStock");
    expect(internal).toContain("/shop.payment.v1.PaymentService/GetPayment");
    for (const path of internal) expect(routed).not.toContain(path);
    expect(routes.at(-1)).toMatchObject({ match: { prefix: "/" }, direct_response: { status: 404 } });
    expect(routes.filter((r) => r.match.prefix !== undefined && r.route)).toEqual([]);
  });

  it("gives unary routes a timeout and retries on UNAVAILABLE, and the stream no overall timeout", async () => {
    const { routes } = await envoyConfig();
    for (const method of publicMethods()) {
      const route = routes.find((r) => r.match.path === method.path)?.route;
      if (method.method.methodKind === "unary") {
        expect(route?.timeout, method.path).toMatch(/^\d+s$/);
        expect(route?.retry_policy?.retry_on, method.path).toContain("unavailable");
      } else {
        expect(route?.timeout, method.path).toBe("0s");
      }
    }
  });

  it("transcodes exactly the services that have public methods, with gRPC-Web, CORS and JWT filters before the router", async () => {
    const { filters } = await envoyConfig();
    const names = filters.map((f) => f.name);
    expect(names.at(-1)).toBe("envoy.filters.http.router");
    for (const name of [
      "envoy.filters.http.cors",
      "envoy.filters.http.grpc_web",
      "envoy.filters.http.grpc_json_transcoder",
      "envoy.filters.http.jwt_authn",
    ]) {
      expect(names).toContain(name);
    }
    const transcoder = filters.find((f) => f.name === "envoy.filters.http.grpc_json_transcoder")?.typed_config as {
      services: string[];
      proto_descriptor: string;
    };
    const expected = [...new Set(publicMethods().map((m) => m.service.typeName))].sort();
    expect([...transcoder.services].sort()).toEqual(expected);
    expect(transcoder.services).not.toContain("shop.payment.v1.PaymentService");
    expect(transcoder.proto_descriptor).toBe("/etc/envoy/descriptors.binpb");
  });

  it("health-checks every cluster over gRPC and ejects outliers", async () => {
    const { clusters } = await envoyConfig();
    expect(clusters.map((c) => c.name).sort()).toEqual(["inventory", "notification", "order"]);
    for (const cluster of clusters) {
      expect(cluster.health_checks?.[0]?.grpc_health_check, cluster.name).toBeDefined();
      expect(cluster.outlier_detection, cluster.name).toBeDefined();
    }
  });

  it("can be fed by `buf build --as-file-descriptor-set`, which holds every transcoded service", async () => {
    const dir = await mkdtemp(join(tmpdir(), "envoy-descriptors-"));
    try {
      const out = join(dir, "descriptors.binpb");
      await promisify(execFile)(join(repoRoot, "node_modules/.bin/buf"), ["build", "--as-file-descriptor-set", "-o", out], {
        cwd: repoRoot,
      });
      const set = fromBinary(FileDescriptorSetSchema, await readFile(out));
      const services = set.file.flatMap((f) => f.service.map((s) => `${f.package}.${s.name}`));
      const files = set.file.map((f) => f.name);
      expect(services).toEqual(expect.arrayContaining(Object.keys(CLUSTER_OF)));
      expect(files).toContain("google/api/annotations.proto");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("verifies tokens as the gateway does: a key from a mounted file, issuer, audience, an expiry and a subject required", async () => {
    const { filters } = await envoyConfig();
    const jwt = filters.find((f) => f.name === "envoy.filters.http.jwt_authn")?.typed_config as {
      providers: Record<
        string,
        { issuer: string; audiences: string[]; require_expiration: boolean; subjects: unknown; local_jwks: Record<string, string> }
      >;
    };
    const provider = jwt.providers.shop!;
    expect(provider).toMatchObject({ issuer: "shop-mesh-dev", audiences: ["shop-gateway"], require_expiration: true });
    expect(provider.subjects).toEqual({ safe_regex: { regex: ".+" } });
    expect(provider.local_jwks).toEqual({ filename: "/etc/envoy/jwks/jwks.json" });
  });

  it("calls every cluster over mTLS as the gateway workload, accepting only that service's SPIFFE ID", async () => {
    const { clusters } = await envoyConfig();
    for (const cluster of clusters) {
      const tls = cluster.transport_socket?.typed_config as {
        common_tls_context: {
          tls_certificates: { certificate_chain: { filename: string } }[];
          validation_context: {
            trusted_ca: { filename: string };
            match_typed_subject_alt_names: { san_type: string; matcher: { exact: string } }[];
          };
        };
      };
      expect(tls.common_tls_context.tls_certificates[0]?.certificate_chain.filename, cluster.name).toBe("/etc/envoy/mesh-tls/tls.crt");
      expect(tls.common_tls_context.validation_context.trusted_ca.filename).toBe("/etc/envoy/mesh-tls/ca.crt");
      expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([
        { san_type: "URI", matcher: { exact: `spiffe://shop.mesh/${cluster.name}` } },
      ]);
    }
  });
});
