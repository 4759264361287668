import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { Code, type ConnectError } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../src/index.js";

const ROOT = new URL("../../../", import.meta.url).pathname;
const FIXTURE = new URL("./fixtures/inventory-server.mjs", import.meta.url).pathname;

interface Fixture {
  child: ChildProcess;
  port: number;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

async function startFixture(): Promise<Fixture> {
  const child = spawn(process.execPath, [FIXTURE], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", SHUTDOWN_GRACE_MS: "5000", READINESS_INTERVAL_MS: "100" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (parsed.fixture === "ready") resolve(parsed.port as number);
      } catch {
        // not ours
      }
    });
    void exited.then((code) => reject(new Error(`fixture exited early with ${code}`)));
  });
  return { child, port, lines, exited };
}

describe("graceful shutdown on SIGTERM", () => {
  let fixture: Fixture | undefined;

  beforeAll(async () => {
    // The fixture runs the built package in its own process.
    await promisify(execFile)("npx", ["tsc", "-b", "packages/platform"], { cwd: ROOT, timeout: 120_000 });
  }, 120_000);
  afterAll(() => {
    if (fixture && fixture.child.exitCode === null) fixture.child.kill("SIGKILL");
  });

  it("lets in-flight calls complete, refuses new ones, runs shutdown hooks and exits 0", async () => {
    fixture = await startFixture();
    const client = createClient(InventoryService, `127.0.0.1:${fixture.port}`, { retry: false, breaker: false });
    try {
      expect((await client.getProduct({ sku: "warm-up" })).product?.sku).toBe("warm-up");
      const inFlight = [1, 2, 3].map(() => client.getProduct({ sku: "slow:800" }, { timeoutMs: 5_000 }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      fixture.child.kill("SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 150));

      const refused = (await client.getProduct({ sku: "late" }, { timeoutMs: 2_000 }).catch((e: unknown) => e)) as ConnectError;
      expect(refused.code).toBe(Code.Unavailable);

      const results = await Promise.all(inFlight);
      expect(results.map((r) => r.product?.sku)).toEqual(["slow:800", "slow:800", "slow:800"]);
      expect(await fixture.exited).toBe(0);
      expect(fixture.lines.some((l) => l.fixture === "hook-ran")).toBe(true);
    } finally {
      client.close();
    }
  });
});
