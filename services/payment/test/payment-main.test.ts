import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** dist/main.js as `npm start` runs it, on its own PostgreSQL database. */
describe("payment main process", () => {
  let database: TestDatabase;
  let child: ChildProcess;
  let client: GrpcClient<typeof PaymentService>;
  const output: string[] = [];
  beforeAll(async () => {
    database = await createTestDatabase("payment_main");
    const [port, adminPort] = [await freePort(), await freePort()];
    child = spawn(process.execPath, [main], {
      env: { ...process.env, PAYMENT_PORT: `${port}`, PAYMENT_ADMIN_PORT: `${adminPort}`, HOST: "127.0.0.1", LOG_LEVEL: "warn", DATABASE_URL: database.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    for (let ready = false; !ready; await new Promise((r) => setTimeout(r, 100))) {
      if (child.exitCode !== null) throw new Error(`payment exited: ${output.join("")}`);
      ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    }
    client = createClient(PaymentService, `127.0.0.1:${port}`, { retry: false, breaker: false });
  });
  afterAll(async () => {
    client?.close();
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    await database?.drop();
  });

  it("authorizes and captures with its migrations applied", async () => {
    const key = `main-${Date.now()}`;
    const { payment } = await client.authorizePayment({ idempotencyKey: key, orderId: key, amount: { currencyCode: "EUR", amountMinor: 999n }, cardToken: "tok_visa" });
    expect(payment?.state).toBe(PaymentState.AUTHORIZED);
    expect((await client.capturePayment({ paymentId: payment!.paymentId })).payment?.state).toBe(PaymentState.CAPTURED);
  });

  it("stops cleanly on SIGTERM", async () => {
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    expect(code).toBe(0);
  });
});
