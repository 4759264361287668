// The gateway as it runs in production: `node gateway/dist/main.js` with two node:cluster workers
// sharing the public port, the primary serving /readyz and aggregated /metrics, SIGTERM draining.
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { freePort, repoRoot } from "./mesh.js";

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url).catch(() => undefined);
    if (response?.ok) return response;
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("gateway process", () => {
  it("serves from two cluster workers, aggregates their metrics on the admin port, and exits 0 on SIGTERM", async () => {
    const [port, adminPort, deadUpstream] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [join(repoRoot, "gateway/dist/main.js")], {
      env: { ...process.env, GATEWAY_PORT: String(port), GATEWAY_ADMIN_PORT: String(adminPort), GATEWAY_WORKERS: "2", HOST: "127.0.0.1", LOG_LEVEL: "warn", INVENTORY_URL: `127.0.0.1:${deadUpstream}`, OTEL_TRACES_EXPORTER: "none" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitFor(`http://127.0.0.1:${adminPort}/readyz`, 20_000);
      // A call to a dead upstream answers UNAVAILABLE (503) and is counted by the worker that took it.
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/v1/products`, { headers: { connection: "close" } });
        expect(response.status).toBe(503);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      const handled = metrics.match(/^grpc_client_handled_total\{[^}]*grpc_method="ListProducts"[^}]*grpc_code="UNAVAILABLE"\} (\d+)/m);
      expect(Number(handled?.[1])).toBe(3);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 40_000);

  it("prints a development token with `token-cli <user>` and refuses a bad user name", async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [join(repoRoot, "gateway/dist/token-cli.js"), "ivan"]);
    const claims = JSON.parse(Buffer.from(stdout.trim().split(".")[1] as string, "base64url").toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: "ivan", iss: "shop-mesh-dev", aud: "shop-gateway" });
    const bad = await run(process.execPath, [join(repoRoot, "gateway/dist/token-cli.js"), "not valid"]).catch((e: { code: number }) => e);
    expect((bad as { code: number }).code).toBe(2);
  });
});
