import { createServer } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { type Any, anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  BadRequestSchema,
  DebugInfoSchema,
  ErrorInfoSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "@shop/contracts/google/rpc/error_details_pb";
import { StatusSchema } from "@shop/contracts/google/rpc/status_pb";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayFixture, startGatewayFixture } from "./harness.js";
import { type ScriptedAnswer, type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream.js";

/** Text that must never leave the gateway: internal addresses, grpc-js and breaker texts, upstream trailers and debug details. */
const LEAKS = [
  "10.9.8.7",
  "127.0.0.1",
  "x-internal",
  "No connection",
  "ECONNREFUSED",
  "circuit open",
  "remote_addr",
  "Deadline exceeded after",
  "internal.example",
  "db.ts",
];

function status(code: number, message: string, details: Any[]): Buffer {
  return Buffer.from(toBinary(StatusSchema, create(StatusSchema, { code, message, details })));
}

/** What the scripted inventory answers, by SKU (the request's bytes are not read: the method path and a per-test switch decide). */
let next: ScriptedAnswer = { "grpc-status": "0" };
const ANSWERS: Record<string, ScriptedAnswer> = {
  // An upstream that blurts: an internal address in its message, a private trailer, DebugInfo and a foreign ErrorInfo.
  leaky: {
    "grpc-status": String(Code.Unavailable),
    "grpc-message": "connect to 10.9.8.7:5432 failed",
    "x-internal-host": "10.9.8.7",
    "grpc-status-details-bin": status(Code.Unavailable, "db 10.9.8.7:5432 down", [
      anyPack(DebugInfoSchema, create(DebugInfoSchema, { stackEntries: ["at db.ts:1"], detail: "10.9.8.7" })),
      anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { domain: "internal.example", reason: "PG_DOWN" })),
      anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { domain: "shop.mesh", reason: "DEPENDENCY_DOWN" })),
      anyPack(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: durationFromMs(1_500) })),
    ]),
  },
  // A domain refusal: its message and public details pass, its private trailer does not.
  refused: {
    "grpc-status": String(Code.InvalidArgument),
    "grpc-message": "invalid request: sku: must be upper case",
    "x-internal-host": "10.9.8.7",
    "grpc-status-details-bin": status(Code.InvalidArgument, "invalid request: sku: must be upper case", [
      anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations: [{ field: "sku", description: "must be upper case" }] })),
      anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { domain: "shop.mesh", reason: "INVALID_ARGUMENT" })),
      anyPack(ResourceInfoSchema, create(ResourceInfoSchema, { resourceType: "product", resourceName: "x", owner: "db.ts" })),
    ]),
  },
  // A client-class code without the domain's ErrorInfo (grpc-js's own text): the fixed message per code.
  oversize: {
    "grpc-status": String(Code.ResourceExhausted),
    "grpc-message": "Received message larger than max (5000 vs 4000) from 10.9.8.7",
  },
  hang: "hang",
};

interface Seen {
  code: Code;
  message: string;
  /** Every header, trailer, message and detail as text (binary values decoded), to search for leaks. */
  text: string;
  details: { type: string; value: Uint8Array }[];
  retryAfter: string | undefined;
}

function textOf(headers: Headers): string {
  const lines: string[] = [];
  headers.forEach((value, key) => {
    lines.push(`${key}: ${key.endsWith("-bin") ? Buffer.from(value, "base64").toString("latin1") : value}`);
  });
  return lines.join("\n");
}

/** An error answered as Connect error JSON (Connect protocol and REST): status line, headers and body. */
async function fromJson(response: Response): Promise<Seen> {
  const body = (await response.json()) as { code: string; message: string; details?: { type: string; value: string }[] };
  const details = (body.details ?? []).map((d) => ({ type: d.type, value: Buffer.from(d.value, "base64") }));
  const code =
    Code[body.code.replace(/_(.)/g, (_m, c: string) => c.toUpperCase()).replace(/^./, (c) => c.toUpperCase()) as keyof typeof Code];
  return {
    code: code === undefined && body.code === "canceled" ? Code.Canceled : code,
    message: body.message,
    text: [textOf(response.headers), JSON.stringify(body), ...details.map((d) => Buffer.from(d.value).toString("latin1"))].join("\n"),
    details,
    retryAfter: response.headers.get("retry-after") ?? undefined,
  };
}

function fromConnectError(error: unknown): Seen {
  expect(error).toBeInstanceOf(ConnectError);
  const e = error as ConnectError;
  const details = e.details.map((d) => ("desc" in d ? { type: d.desc.typeName, value: new Uint8Array() } : d));
  return {
    code: e.code,
    message: e.rawMessage,
    text: [e.rawMessage, textOf(e.metadata), ...details.map((d) => `${d.type} ${Buffer.from(d.value).toString("latin1")}`)].join("\n"),
    details,
    retryAfter: e.metadata.get("retry-after") ?? undefined,
  };
}

type Protocol = (fx: GatewayFixture, sku: string, timeoutMs?: number) => Promise<Seen>;

const viaTransport =
  (transport: (baseUrl: string) => Transport): Protocol =>
  async (fx, sku, timeoutMs) =>
    fromConnectError(
      await createClient(InventoryService, transport(fx.baseUrl))
        .getProduct({ sku }, { timeoutMs })
        .catch((e: unknown) => e),
    );

const PROTOCOLS: Record<string, Protocol> = {
  REST: async (fx, sku, timeoutMs) =>
    fromJson(await fetch(`${fx.baseUrl}/v1/products/${sku}`, { headers: timeoutMs ? { "x-timeout-ms": String(timeoutMs) } : {} })),
  "Connect JSON": async (fx, sku, timeoutMs) =>
    fromJson(
      await fetch(`${fx.baseUrl}/shop.inventory.v1.InventoryService/GetProduct`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(timeoutMs ? { "connect-timeout-ms": String(timeoutMs) } : {}) },
        body: JSON.stringify({ sku }),
      }),
    ),
  "gRPC-Web": viaTransport((baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })),
  gRPC: viaTransport((baseUrl) => createGrpcTransport({ baseUrl })),
};

function expectNoLeak(seen: Seen): void {
  for (const leak of LEAKS) expect(seen.text, `"${leak}" left the gateway`).not.toContain(leak);
}

let upstream: ScriptedUpstream;
let scripted: GatewayFixture;
let unreachable: GatewayFixture;

beforeAll(async () => {
  upstream = await startScriptedUpstream(() => next);
  scripted = await startGatewayFixture({ INVENTORY_URL: upstream.target }, { productionClients: true });
  // A port nothing listens on: grpc-js says "No connection established ... ECONNREFUSED 127.0.0.1:<port>".
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  unreachable = await startGatewayFixture({ INVENTORY_URL: `127.0.0.1:${port}` }, { productionClients: true });
});
afterAll(async () => {
  await scripted?.close();
  await unreachable?.close();
  await upstream?.close();
});

describe("what leaves the gateway when an upstream fails", () => {
  for (const [name, call] of Object.entries(PROTOCOLS)) {
    it(`${name}: an upstream's internal address, trailers and debug details stay inside; its domain ErrorInfo and RetryInfo pass`, async () => {
      next = ANSWERS.leaky as ScriptedAnswer;
      const seen = await call(scripted, "leaky");
      expectNoLeak(seen);
      expect(seen.code).toBe(Code.Unavailable);
      expect(seen.message).toBe("the service is unavailable; retry later");
      expect(seen.details.map((d) => d.type).sort()).toEqual(["google.rpc.ErrorInfo", "google.rpc.RetryInfo"]);
      expect(seen.retryAfter).toBe("2");
    });

    it(`${name}: a domain refusal keeps its message, BadRequest, ErrorInfo and ResourceInfo, and loses the private trailer`, async () => {
      next = ANSWERS.refused as ScriptedAnswer;
      const seen = await call(scripted, "refused");
      expectNoLeak(seen);
      expect(seen.code).toBe(Code.InvalidArgument);
      expect(seen.message).toBe("invalid request: sku: must be upper case");
      expect(seen.details.map((d) => d.type).sort()).toEqual(["google.rpc.BadRequest", "google.rpc.ErrorInfo", "google.rpc.ResourceInfo"]);
    });

    it(`${name}: a client-class code without the domain's ErrorInfo gets the fixed message for its code`, async () => {
      next = ANSWERS.oversize as ScriptedAnswer;
      const seen = await call(scripted, "oversize");
      expectNoLeak(seen);
      expect(seen.code).toBe(Code.ResourceExhausted);
      expect(seen.message).toBe("resource exhausted");
      expect(seen.details).toEqual([]);
    });

    it(`${name}: an unreachable upstream and then its open breaker answer UNAVAILABLE naming no address`, async () => {
      // Enough calls to open the gateway's breaker to the dead target (5 consecutive UNAVAILABLE).
      for (let i = 0; i < 6; i++) {
        const seen = await call(unreachable, "SKU-1");
        expectNoLeak(seen);
        expect(seen.code).toBe(Code.Unavailable);
        expect(seen.message).toBe("the service is unavailable; retry later");
        expect(seen.details).toEqual([]);
      }
    });
  }

  for (const name of ["REST", "Connect JSON"]) {
    it(`${name}: a deadline that passes upstream says so without grpc-js's text (which names the upstream's address)`, async () => {
      next = ANSWERS.hang as ScriptedAnswer;
      const seen = await (PROTOCOLS[name] as Protocol)(scripted, "hang", 300);
      expectNoLeak(seen);
      expect(seen.code).toBe(Code.DeadlineExceeded);
    });
  }
});
