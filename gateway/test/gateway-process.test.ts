// The gateway as it runs in production: `node gateway/dist/main.js` with two node:cluster workers
// sharing the public port, the primary serving /readyz and aggregated /metrics, SIGTERM draining.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ServiceProcess } from "@shop/platform/testing/service-process";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./mesh.js";
import { startStubInventory } from "./stub-inventory.js";

describe("gateway process", () => {
  it("serves from two cluster workers, aggregates their metrics on the admin port, and exits 0 on SIGTERM", async () => {
    const inventory = await startStubInventory();
    const gateway = new ServiceProcess("gateway", {
      envPrefix: "GATEWAY",
      main: join(repoRoot, "gateway/dist/main.js"),
      cwd: repoRoot,
      env: { GATEWAY_WORKERS: "2", HOST: "127.0.0.1", INVENTORY_URL: inventory.target, OTEL_TRACES_EXPORTER: "none" },
      readyTimeoutMs: 20_000,
    });
    try {
      await gateway.start();
      // The primary announces the port when the first worker listens; wait for the second too.
      await until(() => listeningWorkers(gateway.output.join("")).size === 2);
      // A new connection per request: the primary hands them to the workers in turn.
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`${gateway.url}/v1/products/SKU-1`, { headers: { connection: "close" } });
        expect(response.status).toBe(200);
      }
      // Both workers forwarded calls (each keeps its own upstream connection) …
      expect(inventory.callerPorts).toHaveLength(4);
      expect(new Set(inventory.callerPorts).size).toBe(2);
      const admin = `http://127.0.0.1:${gateway.adminPort}`;
      const metricsResponse = await fetch(`${admin}/metrics`);
      expect(metricsResponse.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const metrics = await metricsResponse.text();
      // … and the admin port counts all four: every worker's registry, summed.
      const handled = metrics.match(/^grpc_client_handled_total\{[^}]*grpc_method="GetProduct"[^}]*grpc_code="OK"\} (\d+)/m);
      expect(Number(handled?.[1])).toBe(4);
      // The platform's admin server: JSON probes, GET and HEAD only.
      const health = await fetch(`${admin}/healthz`);
      expect(health.headers.get("content-type")).toBe("application/json");
      expect(await health.json()).toEqual({ status: "ok" });
      expect(await (await fetch(`${admin}/readyz`)).json()).toEqual({ status: "ready" });
      expect((await fetch(`${admin}/readyz`, { method: "POST" })).status).toBe(405);
      expect(await gateway.stop()).toBe(0);
    } finally {
      await gateway.kill9();
      await inventory.close();
    }
  }, 40_000);

  it("answers 503 for a dead upstream and counts the call as UNAVAILABLE", async () => {
    // Port 1 (tcpmux) has no listener on this machine: every upstream call fails with UNAVAILABLE.
    const gateway = new ServiceProcess("gateway", {
      envPrefix: "GATEWAY",
      main: join(repoRoot, "gateway/dist/main.js"),
      cwd: repoRoot,
      env: { GATEWAY_WORKERS: "1", HOST: "127.0.0.1", INVENTORY_URL: "127.0.0.1:1", OTEL_TRACES_EXPORTER: "none" },
      readyTimeoutMs: 20_000,
    });
    try {
      await gateway.start();
      for (let i = 0; i < 3; i++) expect((await fetch(`${gateway.url}/v1/products`)).status).toBe(503);
      const metrics = await (await fetch(`http://127.0.0.1:${gateway.adminPort}/metrics`)).text();
      const handled = metrics.match(/^grpc_client_handled_total\{[^}]*grpc_method="ListProducts"[^}]*grpc_code="UNAVAILABLE"\} (\d+)/m);
      expect(Number(handled?.[1])).toBe(3);
    } finally {
      await gateway.kill9();
    }
  }, 40_000);

  it("counts one rate limit for all workers: two workers together allow the burst once, not twice", async () => {
    const inventory = await startStubInventory();
    const gateway = new ServiceProcess("gateway", {
      envPrefix: "GATEWAY",
      main: join(repoRoot, "gateway/dist/main.js"),
      cwd: repoRoot,
      // A window of 10 calls per 10 s: the requests below fit in one window.
      env: {
        GATEWAY_WORKERS: "2",
        HOST: "127.0.0.1",
        INVENTORY_URL: inventory.target,
        GATEWAY_RATE_LIMIT_BURST: "10",
        GATEWAY_RATE_LIMIT_PER_SECOND: "1",
      },
      readyTimeoutMs: 20_000,
    });
    try {
      await gateway.start();
      // Ready means one worker listens; the burst must meet both, so wait for the second.
      await until(() => listeningWorkers(gateway.output.join("")).size === 2);
      const statuses: number[] = [];
      // A new connection per request: the primary hands connections to the workers in turn.
      for (let i = 0; i < 30; i++) {
        const response = await fetch(`${gateway.url}/v1/products/SKU-1`, { headers: { connection: "close" } });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
      expect(statuses.filter((status) => status === 200)).toHaveLength(10);
      expect(statuses.filter((status) => status === 429)).toHaveLength(20);
      // The allowed calls came from both workers (one upstream connection each), so each worker
      // alone would have allowed more than it did.
      expect(inventory.callerPorts).toHaveLength(10);
      expect(new Set(inventory.callerPorts).size).toBe(2);
      expect(await gateway.stop()).toBe(0);
    } finally {
      await gateway.kill9();
      await inventory.close();
    }
  }, 40_000);

  it("prints a development token with `token-cli <user>` and refuses a bad user name", async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [join(repoRoot, "gateway/dist/dev/token-cli.js"), "ivan"]);
    const claims = JSON.parse(Buffer.from(stdout.trim().split(".")[1] as string, "base64url").toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: "ivan", iss: "shop-mesh-dev", aud: "shop-gateway" });
    const bad = await run(process.execPath, [join(repoRoot, "gateway/dist/dev/token-cli.js"), "not valid"]).catch(
      (e: { code: number }) => e,
    );
    expect((bad as { code: number }).code).toBe(2);
  });
});

/** The pids of the gateway workers that logged that they listen. */
function listeningWorkers(output: string): Set<number> {
  const pids = new Set<number>();
  for (const line of output.split("\n")) {
    if (line.includes('"msg":"gateway listening"')) pids.add((JSON.parse(line) as { pid: number }).pid);
  }
  return pids;
}

/** Waits until `done()` holds; fails after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
