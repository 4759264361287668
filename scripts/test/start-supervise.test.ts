// `npm start` supervises: the real scripts/start.mjs runs a private mesh (free ports, its own PostgreSQL
// databases and RabbitMQ names); a service killed with SIGKILL is restarted, logged, and SERVING again;
// Ctrl-C (SIGINT) then stops every process cleanly.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { rabbitTestScope } from "@shop/platform/testing/rabbitmq";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMeshEnv, type MeshEnv } from "../chaos/mesh-env.mjs";
import { restartDelay } from "../start/supervisor.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const rabbit = rabbitTestScope("test-start");
let mesh: MeshEnv;
let start: ChildProcess;
let output = "";

/** The pid each service last logged with (its JSON lines carry it), by service name. */
function pidsByService(): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of output.split("\n")) {
    const match = /^(\w+)\s*\| (\{.*\})$/.exec(line);
    if (!match) continue;
    try {
      const record = JSON.parse(match[2] as string) as { pid?: number };
      if (record.pid) pids.set(match[1] as string, record.pid);
    } catch {
      // a line that is not a log record
    }
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; npm start printed:\n${output.slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const ready = (port: number) =>
  fetch(`http://127.0.0.1:${port}/readyz`).then(
    (response) => response.ok,
    () => false,
  );

beforeAll(async () => {
  mesh = await createMeshEnv({ label: "start", extra: { AMQP_PREFIX: rabbit.prefix, GATEWAY_WORKERS: "1", LOG_LEVEL: "info" } });
  start = spawn(process.execPath, ["scripts/start.mjs"], {
    cwd: root,
    env: { ...process.env, ...mesh.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  start.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  start.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await until(() => output.includes("The mesh is up"), "the mesh came up", 180_000);
}, 200_000);

afterAll(async () => {
  if (start && start.exitCode === null) {
    start.kill("SIGINT");
    await new Promise((resolve) => start.once("exit", resolve));
  }
  for (const pid of pidsByService().values()) if (alive(pid)) process.kill(pid, "SIGKILL");
  await mesh?.drop();
  await rabbit.cleanup();
}, 60_000);

describe("npm start's supervision", () => {
  it("backs off 0.5 s, 1 s, 2 s … up to 30 s between restarts of a service that keeps exiting", () => {
    expect([1, 2, 3, 4, 7, 20].map((n) => restartDelay(n))).toEqual([500, 1_000, 2_000, 4_000, 30_000, 30_000]);
  });

  it("restarts a service killed with SIGKILL, logs it, and the service is SERVING again", async () => {
    for (const name of ["order", "payment"]) {
      const before = pidsByService().get(name);
      expect(before).toBeDefined();
      process.kill(before as number, "SIGKILL");

      await until(() => output.includes(`[start] ${name} exited unexpectedly (SIGKILL); restart 1 in 0.5 s`), `${name}'s exit logged`);
      await until(() => output.includes(`[start] ${name} is ready again (SERVING) after restart 1`), `${name} SERVING again`);
      // The service's own log lines (which carry its pid) are written in batches up to 250 ms apart:
      // the new process may be SERVING before its first line is out.
      await until(() => pidsByService().get(name) !== before, `${name}'s new process logging`);
      const after = pidsByService().get(name);
      expect(alive(after as number)).toBe(true);
      expect(await ready(mesh.ports[name]!.adminPort)).toBe(true);
    }
    // The rest of the mesh never went down.
    for (const name of ["inventory", "notification", "gateway"]) expect(await ready(mesh.ports[name]!.adminPort)).toBe(true);
  }, 120_000);

  it("finishes an order that was in flight when the order service was killed", async () => {
    const gateway = createClient(
      OrderService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${mesh.ports.gateway!.port}`, httpVersion: "1.1" }),
    );
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("grace")
      .setIssuer("shop-mesh-dev")
      .setAudience("shop-gateway")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(new TextEncoder().encode("shop-mesh-dev-secret-change-me-0123456789"));
    const headers = { authorization: `Bearer ${token}` };
    const payment = pidsByService().get("payment") as number;
    process.kill(payment, "SIGSTOP"); // the authorization hangs: the order is in flight
    let orderId = "";
    try {
      const { order } = await gateway.createOrder(
        { requestId: randomUUID(), items: [{ sku: "SKU-MUG-001", quantity: 1 }], cardToken: "tok_visa", email: "grace@example.com" },
        { headers },
      );
      expect(order?.status).toBe(OrderStatus.PENDING);
      orderId = order?.orderId ?? "";
      const killed = pidsByService().get("order") as number;
      process.kill(killed, "SIGKILL");
      await until(() => output.includes("[start] order is ready again (SERVING) after restart 2"), "order SERVING again");
    } finally {
      process.kill(payment, "SIGCONT");
    }
    // Recovery in the restarted process drives the order to its end.
    let status = OrderStatus.PENDING;
    await until(async () => {
      status = (await gateway.getOrder({ orderId }, { headers }).catch(() => ({ order: undefined }))).order?.status ?? OrderStatus.PENDING;
      return status !== OrderStatus.PENDING;
    }, "the in-flight order finished");
    expect(status).toBe(OrderStatus.CONFIRMED);
  }, 120_000);

  it("stops every service on Ctrl-C (SIGINT), restarting none, and exits 0", async () => {
    const pids = [...pidsByService().values()];
    expect([...pidsByService().keys()].sort()).toEqual(["gateway", "inventory", "notification", "order", "payment"]);
    const exited = new Promise<number | null>((resolve) => start.once("exit", (code) => resolve(code)));
    start.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect(output).toContain("stopping the mesh");
    expect(output.slice(output.indexOf("stopping the mesh"))).not.toContain("exited unexpectedly");
  }, 60_000);
});
