import { Code, ConnectError } from "@connectrpc/connect";
import { PaymentState } from "@shop/contracts/shop/payment/v1/payment_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, errorInfo, type GrpcClient, loadServiceConfig, type RunningServer, serve, service } from "@shop/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentService } from "../src/payment-service.js";
import { SimulatedCardProcessor } from "../src/processor.js";
import { PaymentStore } from "../src/store.js";
import { type EngineDatabase, engines, uniqueKey } from "./engines.js";

/** A real grpc-js server on an ephemeral port, called through the platform's client. */
describe("PaymentService over the wire", () => {
  let handle: EngineDatabase;
  let server: RunningServer;
  let client: GrpcClient<typeof PaymentService>;
  beforeAll(async () => {
    handle = await engines[0]!.open();
    const config = loadServiceConfig(
      "payment",
      { port: 0, adminPort: 0 },
      { HOST: "127.0.0.1", LOG_LEVEL: "silent", HANDLE_SIGNALS: "false" },
    );
    const payments = createPaymentService({ store: new PaymentStore(handle.db), processor: new SimulatedCardProcessor() });
    server = await serve(config, [service(PaymentService, payments)], { readiness: { database: () => handle.db.ping() } });
    client = createClient(PaymentService, server.address, { retry: false, breaker: false });
  });
  afterAll(async () => {
    client?.close();
    await server?.shutdown();
    await handle?.dispose();
  });

  const authorize = (key: string, cardToken: string) =>
    client.authorizePayment({ idempotencyKey: key, orderId: key, amount: { currencyCode: "EUR", amountMinor: 12_345n }, cardToken });

  it("authorizes, captures and reads back a tok_visa payment", async () => {
    const { payment } = await authorize(uniqueKey(), "tok_visa");
    expect(payment?.state).toBe(PaymentState.AUTHORIZED);
    expect((await client.capturePayment({ paymentId: payment!.paymentId })).payment?.state).toBe(PaymentState.CAPTURED);
    const read = (await client.getPayment({ paymentId: payment!.paymentId })).payment;
    expect(read?.state).toBe(PaymentState.CAPTURED);
    expect(read?.amount?.amountMinor).toBe(12_345n);
  });

  it("answers tok_declined with a DECLINED payment and tok_unavailable with UNAVAILABLE", async () => {
    expect((await authorize(uniqueKey(), "tok_declined")).payment?.state).toBe(PaymentState.DECLINED);
    const error = await authorize(uniqueKey(), "tok_unavailable").catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect(errorInfo(error)?.reason).toBe("PROCESSOR_UNAVAILABLE");
  });

  it("carries PAYMENT_NOT_FOUND across the wire", async () => {
    const error = await client.getPayment({ paymentId: "pay_nope" }).catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("PAYMENT_NOT_FOUND");
  });
});
