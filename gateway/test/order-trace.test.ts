// One order placed through the gateway is one trace: spans of the gateway and all four services
// (server and client spans per hop, the outbox's PRODUCER spans, notification's CONSUMER span),
// exported over OTLP/HTTP to a collector this test runs, and the trace id in each service's logs.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Mesh, startMesh } from "./mesh.js";

/** One span as the OTLP/JSON export carries it (the fields this test reads). */
interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  links: string[];
}

// OTLP span kinds.
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

/** Trace and span ids are hex in OTLP/JSON; base64 is accepted too, as some exporters send it. */
function hexId(id: string | undefined): string {
  if (!id) return "";
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, "base64").toString("hex");
}

/** A tiny OTLP/HTTP (JSON) collector: keeps every span posted to /v1/traces. */
function startCollector(): Promise<{ server: Server; url: string; spans: ExportedSpan[] }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url === "/v1/traces" && String(req.headers["content-type"]).includes("json")) {
        type Attr = { key: string; value: { stringValue?: string } };
        type Body = {
          resourceSpans?: Array<{
            resource?: { attributes?: Attr[] };
            scopeSpans?: Array<{
              spans?: Array<{
                traceId: string;
                spanId: string;
                parentSpanId?: string;
                name: string;
                kind: number;
                links?: Array<{ spanId: string }>;
              }>;
            }>;
          }>;
        };
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Body;
        for (const resource of body.resourceSpans ?? []) {
          const service = resource.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "";
          for (const scope of resource.scopeSpans ?? [])
            for (const span of scope.spans ?? [])
              spans.push({
                service,
                traceId: hexId(span.traceId),
                spanId: hexId(span.spanId),
                parentSpanId: hexId(span.parentSpanId),
                name: span.name,
                kind: span.kind,
                links: (span.links ?? []).map((link) => hexId(link.spanId)),
              });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans })),
  );
}

let collector: Awaited<ReturnType<typeof startCollector>>;
let mesh: Mesh;

beforeAll(async () => {
  collector = await startCollector();
  mesh = await startMesh({
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  });
}, 180_000);

afterAll(async () => {
  await mesh?.stop();
  await new Promise((resolve) => collector?.server.close(resolve));
}, 60_000);

async function until<T>(probe: () => T | undefined | false, what: () => string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("one trace per order", () => {
  it("holds the spans of the gateway and all four services for an order placed through the gateway, and each service logs its id", async () => {
    const { token } = (await (
      await fetch(`${mesh.gatewayUrl}/dev/token`, { method: "POST", body: JSON.stringify({ user: "tracy" }) })
    ).json()) as { token: string };
    const { products } = (await (await fetch(`${mesh.gatewayUrl}/v1/products`)).json()) as {
      products: { sku: string; availableQuantity: number }[];
    };
    const sku = products.find((p) => p.availableQuantity > 0)?.sku;
    // The browser's trace, as the storefront starts it.
    const traceId = randomBytes(16).toString("hex");
    const browserSpan = randomBytes(8).toString("hex");
    const created = await fetch(`${mesh.gatewayUrl}/shop.order.v1.OrderService/CreateOrder`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        traceparent: `00-${traceId}-${browserSpan}-01`,
      },
      body: JSON.stringify({
        requestId: `trace-${traceId}`,
        items: [{ sku, quantity: 1 }],
        cardToken: "tok_visa",
        email: "tracy@example.com",
      }),
    });
    expect(created.status, await created.clone().text()).toBe(200);
    const { order } = (await created.json()) as { order: { orderId: string; status: string } };
    expect(order.status).toBe("ORDER_STATUS_CONFIRMED");

    const inTrace = () => collector.spans.filter((span) => span.traceId === traceId);
    const services = ["gateway", "order", "inventory", "payment", "notification"];
    // Waits for the notification's CONSUMER span: the last hop of the order's life.
    await until(
      () => inTrace().some((span) => span.service === "notification" && span.kind === CONSUMER),
      () => `notification's CONSUMER span; spans of the trace so far: ${JSON.stringify(inTrace().map((s) => [s.service, s.name]))}`,
    );
    const spans = inTrace();
    expect(new Set(spans.map((span) => span.service))).toEqual(new Set(services));

    const one = (service: string, kind: number, name: RegExp) => {
      const found = spans.find((span) => span.service === service && span.kind === kind && name.test(span.name));
      expect(found, `${service} ${kind} ${name}: ${JSON.stringify(spans.map((s) => [s.service, s.kind, s.name]))}`).toBeDefined();
      return found!;
    };
    // The gateway continues the browser's span; a client span per hop, a server span on the other side.
    const edge = one("gateway", SERVER, /CreateOrder/);
    expect(edge.parentSpanId).toBe(browserSpan);
    const gatewayClient = one("gateway", CLIENT, /CreateOrder/);
    expect(one("order", SERVER, /CreateOrder/).parentSpanId).toBe(gatewayClient.spanId);
    const reserveClient = one("order", CLIENT, /ReserveStock/);
    expect(one("inventory", SERVER, /ReserveStock/).parentSpanId).toBe(reserveClient.spanId);
    const captureClient = one("order", CLIENT, /CapturePayment/);
    expect(one("payment", SERVER, /CapturePayment/).parentSpanId).toBe(captureClient.spanId);
    // The outbox row's PRODUCER span, the relay's PRODUCER span, and notification's CONSUMER span linked to the first.
    const created_ = spans.find(
      (s) =>
        s.service === "order" &&
        s.kind === PRODUCER &&
        /^create /.test(s.name) &&
        spans.some((c) => c.service === "notification" && c.links.includes(s.spanId)),
    );
    expect(created_, "the creation span notification's consumer links to").toBeDefined();
    const sent = spans.find(
      (s) => s.service === "order" && s.kind === PRODUCER && /^send /.test(s.name) && s.parentSpanId === created_!.spanId,
    );
    expect(sent?.links).toEqual([created_!.spanId]);
    const processed = spans.find((s) => s.service === "notification" && s.kind === CONSUMER && s.links.includes(created_!.spanId));
    expect(processed?.parentSpanId).toBe(created_!.spanId);

    // The trace id is in the log lines of all four services (calls, saga, relay, consumer).
    for (const service of ["order", "inventory", "payment", "notification"]) {
      await until(
        () => mesh.output(service).includes(`"trace_id":"${traceId}"`),
        () => `${service} logging trace ${traceId}:\n${mesh.output(service).slice(-2000)}`,
      );
    }
    const orderLines = mesh
      .output("order")
      .split("\n")
      .filter((line) => line.includes(`"trace_id":"${traceId}"`));
    expect(orderLines.some((line) => line.includes('"msg":"order status changed"'))).toBe(true);
    const notificationLines = mesh
      .output("notification")
      .split("\n")
      .filter((line) => line.includes(`"trace_id":"${traceId}"`));
    expect(notificationLines.some((line) => line.includes('"event":"notification.delivered"'))).toBe(true);
  }, 120_000);
});
