import { Writable } from "node:stream";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createClient, createLogger } from "../src/index.js";
import { callingAs } from "../src/testing/certificates.js";
import { CLIENT_TRANSPORTS, inventoryRegistration, startServer } from "./inventory-fixture.js";

describe.each(CLIENT_TRANSPORTS)("call logging (%s client)", (transport) => {
  it("logs one JSON line per call with service, method, code, duration and trace id, and the cause of unexpected errors", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const server = await startServer([inventoryRegistration()], { logger: pino({ level: "info" }, sink) });
    const client = createClient(InventoryService, server.address, { transport, ...callingAs("gateway"), breaker: false });
    try {
      await client.getProduct({ sku: "SKU-1" });
      await client.getProduct({ sku: "missing" }).catch(() => undefined);
      await client.getProduct({ sku: "boom" }).catch(() => undefined);
    } finally {
      client.close();
      await server.shutdown();
    }
    const calls = lines.filter((l) => l.method === "GetProduct");
    expect(calls.map((l) => l.code)).toEqual(["OK", "NOT_FOUND", "INTERNAL"]);
    for (const call of calls) {
      expect(call.service).toBe("shop.inventory.v1.InventoryService");
      expect(typeof call.durationMs).toBe("number");
      expect(call.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(call.span_id).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(JSON.stringify(calls[2]?.err)).toContain("hunter2");
    expect(calls[2]?.level).toBe(50);
  });

  it("writes a successful call's line itself for createLogger's loggers, byte for byte as pino would", async () => {
    const written: string[] = [];
    const logger = createLogger("inventory", "info", { write: (line: string) => void written.push(line) });
    const server = await startServer([inventoryRegistration()], { logger });
    const client = createClient(InventoryService, server.address, { transport, ...callingAs("gateway"), breaker: false });
    try {
      await client.getProduct({ sku: "SKU-1" });
      await client.getProduct({ sku: "missing" }).catch(() => undefined);
    } finally {
      client.close();
      await server.shutdown();
    }
    const calls = written.filter((line) => line.includes('"method":"GetProduct"'));
    expect(calls).toHaveLength(2);
    const ok = JSON.parse(calls[0]!) as { durationMs: number; trace_id: string; span_id: string };
    expect(ok).toMatchObject({
      level: 30,
      name: "inventory",
      service: "shop.inventory.v1.InventoryService",
      method: "GetProduct",
      code: "OK",
      msg: "rpc",
    });
    expect(ok.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(ok.span_id).toMatch(/^[0-9a-f]{16}$/);
    // The same fields logged through pino by the same logger.
    logger
      .child({ service: "shop.inventory.v1.InventoryService", method: "GetProduct" })
      .info({ code: "OK", durationMs: ok.durationMs, trace_id: ok.trace_id, span_id: ok.span_id }, "rpc");
    const withoutTime = (line: string) => line.replace(/"time":\d+/, '"time":0');
    expect(withoutTime(calls[0]!)).toBe(withoutTime(written.at(-1)!));
    // Failures still go through pino.
    expect(JSON.parse(calls[1]!)).toMatchObject({ level: 40, code: "NOT_FOUND", msg: "rpc failed" });
  });
});
