import { fileURLToPath } from "node:url";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, type GrpcClient } from "@shop/platform";
import { createTestDatabase, type TestDatabase } from "@shop/platform/testing/postgres";
import { ServiceProcess } from "@shop/platform/testing/service-process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

/** dist/main.js as `npm start` runs it, on its own PostgreSQL database. */
describe("payment main process", () => {
  let database: TestDatabase;
  let service: ServiceProcess;
  let client: GrpcClient<typeof PaymentService>;
  beforeAll(async () => {
    database = await createTestDatabase("payment_main");
    service = new ServiceProcess("payment", {
      envPrefix: "PAYMENT",
      main,
      cwd: process.cwd(),
      env: { HOST: "127.0.0.1", PAYMENT_DATABASE_URL: database.url },
    });
    await service.start();
    client = createClient(PaymentService, service.target, { retry: false, breaker: false });
  });
  afterAll(async () => {
    client?.close();
    await service?.kill9();
    await database?.drop();
  });

  it("authorizes and captures with its migrations applied", async () => {
    const key = `main-${Date.now()}`;
    const { payment } = await client.authorizePayment({
      idempotencyKey: key,
      orderId: key,
      amount: { currencyCode: "EUR", amountMinor: 999n },
      cardToken: "tok_visa",
    });
    expect(payment?.state).toBe(PaymentState.AUTHORIZED);
    expect((await client.capturePayment({ paymentId: payment!.paymentId })).payment?.state).toBe(PaymentState.CAPTURED);
  });

  it("stops cleanly on SIGTERM", async () => {
    expect(await service.stop()).toBe(0);
  });
});
