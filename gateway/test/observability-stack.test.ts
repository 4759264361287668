// The observability stack of docker-compose.yml (profile `observability`; configs in
// deploy/compose/observability/): every collector pipeline names parts that are defined, every
// Prometheus target is a compose service on its admin port, Grafana's datasources are compose
// services, and every metric a dashboard query names is one the running mesh's processes export
// (read from their own /metrics, not from a list kept here).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Mesh, repoRoot, startMesh } from "./mesh.js";

const run = promisify(execFile);
const dir = join(repoRoot, "deploy", "compose", "observability");
const yamlFile = (path: string) => parse(readFileSync(join(dir, path), "utf8")) as Record<string, unknown>;

interface ComposeService {
  profiles?: string[];
  image?: string;
  environment?: Record<string, string>;
  volumes?: Array<{ source: string; target: string } | string>;
}

/** `docker-compose config` with a placeholder for every variable the file requires (no .env is read). */
async function composeConfig(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const text = readFileSync(join(repoRoot, "docker-compose.yml"), "utf8");
  const required = Object.fromEntries([...text.matchAll(/\$\{(\w+):\?/g)].map(([, name]) => [name!, `placeholder-${name!.toLowerCase()}`]));
  const envFile = join(mkdtempSync(join(tmpdir(), "compose-env-")), ".env");
  writeFileSync(envFile, "");
  return run("docker-compose", ["--env-file", envFile, "-f", "docker-compose.yml", ...args], {
    cwd: repoRoot,
    env: { ...process.env, CERTS_DIR: "", ...required },
  });
}

let services: Record<string, ComposeService>;
beforeAll(async () => {
  services = (parse((await composeConfig("config")).stdout) as { services: Record<string, ComposeService> }).services;
});

const OBSERVABILITY = ["grafana", "jaeger", "otel-collector", "prometheus"];

describe("docker-compose.yml's observability profile", () => {
  it("validates with docker-compose config, with and without the profile", async () => {
    for (const args of [
      ["config", "-q"],
      ["--profile", "observability", "config", "-q"],
    ]) {
      const { stderr } = await composeConfig(...args);
      expect(stderr.replace(/.*nodedir.*\n?/g, ""), args.join(" ")).toBe("");
    }
  });

  it("puts the collector, Jaeger, Prometheus and Grafana in the profile only, each config mounted from deploy/compose/observability", () => {
    const inProfile = Object.entries(services).filter(([, s]) => s.profiles?.includes("observability"));
    expect(inProfile.map(([name]) => name).sort()).toEqual(OBSERVABILITY);
    for (const [name, service] of inProfile) {
      const sources = (service.volumes ?? []).map((v) => (typeof v === "string" ? v.split(":")[0]! : v.source));
      for (const source of sources) expect(source, name).toMatch(/\/deploy\/compose\/observability\//);
    }
    expect(services.jaeger?.volumes).toBeUndefined();
  });

  it("points every service's OTLP exporter at the collector's OTLP/HTTP receiver", () => {
    const collector = yamlFile("otel-collector.yaml") as { receivers: { otlp: { protocols: { http: { endpoint: string } } } } };
    const httpPort = collector.receivers.otlp.protocols.http.endpoint.split(":").at(-1);
    for (const name of ["order", "inventory", "payment", "notification", "gateway"]) {
      expect(services[name]?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe(`http://otel-collector:${httpPort}`);
    }
  });
});

describe("the collector's config", () => {
  const config = yamlFile("otel-collector.yaml") as {
    receivers: Record<string, unknown>;
    processors: Record<string, unknown>;
    exporters: Record<string, { endpoint?: string }>;
    extensions: Record<string, unknown>;
    service: { extensions?: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
  };

  it("has a traces pipeline, and every pipeline names only receivers, processors and exporters that are defined", () => {
    expect(Object.keys(config.service.pipelines)).toContain("traces");
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      expect(pipeline.receivers.length, name).toBeGreaterThan(0);
      expect(pipeline.exporters.length, name).toBeGreaterThan(0);
      for (const receiver of pipeline.receivers) expect(Object.keys(config.receivers), `${name} ${receiver}`).toContain(receiver);
      for (const processor of pipeline.processors ?? [])
        expect(Object.keys(config.processors), `${name} ${processor}`).toContain(processor);
      for (const exporter of pipeline.exporters) expect(Object.keys(config.exporters), `${name} ${exporter}`).toContain(exporter);
    }
    for (const extension of config.service.extensions ?? []) expect(Object.keys(config.extensions)).toContain(extension);
  });

  it("exports traces to a compose service that exists (Jaeger's OTLP port)", () => {
    const endpoints = Object.values(config.exporters).flatMap((exporter) => (exporter.endpoint ? [exporter.endpoint] : []));
    expect(endpoints.length).toBeGreaterThan(0);
    for (const endpoint of endpoints) expect(Object.keys(services), endpoint).toContain(endpoint.split(":")[0]);
  });
});

describe("Prometheus's and Grafana's configs", () => {
  it("scrapes every admin port of the mesh, each target a compose service listening on that ADMIN_PORT", () => {
    const prometheus = yamlFile("prometheus.yml") as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((c) => c.targets));
    const withAdminPort = Object.entries(services).filter(([, s]) => s.environment?.ADMIN_PORT !== undefined);
    expect(withAdminPort.length).toBe(5);
    expect(targets.sort()).toEqual(withAdminPort.map(([name, s]) => `${name}:${s.environment?.ADMIN_PORT}`).sort());
  });

  it("has the gateway's mesh console watch the same admin ports", () => {
    const watched = (services.gateway?.environment?.GATEWAY_CONSOLE_SERVICES ?? "").split(",").map((entry) => {
      const [name, url] = entry.split("=");
      return `${name}=${url}`;
    });
    const expected = Object.entries(services)
      .filter(([name, s]) => s.environment?.ADMIN_PORT !== undefined && name !== "gateway")
      .map(([name, s]) => `${name}=http://${name}:${s.environment?.ADMIN_PORT}`);
    expect(watched.sort()).toEqual(expected.sort());
    expect(services.gateway?.environment?.AMQP_URL).toMatch(/^amqp:\/\/console:placeholder-console_amqp_password@rabbitmq:5672$/);
  });

  it("provisions datasources on compose services, and the dashboard uses only those", () => {
    const { datasources } = yamlFile("grafana/provisioning/datasources/datasources.yaml") as {
      datasources: Array<{ uid: string; url: string }>;
    };
    for (const source of datasources) expect(Object.keys(services), source.url).toContain(new URL(source.url).hostname);
    const dashboard = JSON.parse(readFileSync(join(dir, "grafana/dashboards/shop-mesh.json"), "utf8")) as Dashboard;
    const uids = dashboard.panels.flatMap((p) => [p.datasource?.uid, ...(p.targets ?? []).map((t) => t.datasource?.uid)]).filter(Boolean);
    expect(uids.length).toBeGreaterThan(0);
    for (const uid of uids) expect(datasources.map((d) => d.uid)).toContain(uid);
    const providers = yamlFile("grafana/provisioning/dashboards/dashboards.yaml") as { providers: Array<{ options: { path: string } }> };
    const mount = (services.grafana?.volumes ?? []).map((v) => (typeof v === "string" ? v.split(":")[1] : v.target));
    expect(mount).toContain(providers.providers[0]?.options.path);
  });
});

interface Dashboard {
  panels: Array<{
    type: string;
    title: string;
    datasource?: { uid: string };
    targets?: Array<{ expr: string; datasource?: { uid: string } }>;
  }>;
}

/** The metric names a PromQL expression reads: what is left once strings, label matchers, ranges, grouping and calls are removed. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].filter(([, , call]) => call === undefined).map(([, name]) => name!);
}

describe("the dashboard's queries against the running mesh's /metrics", () => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh();
  }, 180_000);
  afterAll(async () => {
    await mesh?.stop();
  }, 60_000);

  it("names only metrics that the services and the gateway export", async () => {
    // One confirmed order first, so the saga's outcome is counted too.
    const { token } = (await (await fetch(`${mesh.gatewayUrl}/dev/token`, { method: "POST", body: '{"user":"dash"}' })).json()) as {
      token: string;
    };
    const { products } = (await (await fetch(`${mesh.gatewayUrl}/v1/products`)).json()) as { products: { sku: string }[] };
    const created = await fetch(`${mesh.gatewayUrl}/v1/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        requestId: `dash-${Date.now()}`,
        items: [{ sku: products[0]?.sku, quantity: 1 }],
        cardToken: "tok_visa",
        email: "d@example.com",
      }),
    });
    expect(created.status).toBe(200);

    const exported = new Set<string>();
    const texts: Record<string, string> = {};
    for (const [name, url] of Object.entries(mesh.adminUrls)) {
      const text = await (await fetch(`${url}/metrics`)).text();
      texts[name] = text;
      for (const [, metric, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        exported.add(metric!);
        if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${metric}${suffix}`);
        if (type === "summary") for (const suffix of ["_sum", "_count"]) exported.add(`${metric}${suffix}`);
      }
    }
    expect(Object.keys(texts).sort()).toEqual(["gateway", "inventory", "notification", "order", "payment"]);

    const dashboard = JSON.parse(readFileSync(join(dir, "grafana/dashboards/shop-mesh.json"), "utf8")) as Dashboard;
    const graphs = dashboard.panels.filter((panel) => panel.type !== "row");
    expect(graphs.length).toBeGreaterThanOrEqual(8);
    for (const panel of graphs) {
      const names = (panel.targets ?? []).flatMap((target) => metricNames(target.expr));
      expect(names.length, panel.title).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${panel.title}: ${name} is exported by no process`).toBe(true);
    }
    // The figures the issue asks for are among them: RED per method, saga outcomes, outbox backlog and age, queue and DLQ depths.
    const all = graphs.flatMap((panel) => (panel.targets ?? []).map((t) => t.expr)).join("\n");
    for (const metric of [
      "grpc_server_handled_total",
      "grpc_server_handling_seconds_bucket",
      "order_saga_outcomes_total",
      "outbox_backlog",
    ])
      expect(all).toContain(metric);
    expect(all).toContain("outbox_oldest_age_seconds");
    expect(all).toMatch(/amqp_queue_messages\{queue=~"\.\*\\\\\.dlq"\}/);
    await expect
      .poll(async () => await (await fetch(`${mesh.adminUrls.order}/metrics`)).text(), { timeout: 15_000 })
      .toMatch(/^order_saga_outcomes_total\{status="CONFIRMED"\} [1-9]/m);
  }, 60_000);
});
