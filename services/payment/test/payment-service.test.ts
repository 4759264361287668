import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import {
  AuthorizePaymentRequestSchema,
  PaymentService,
  VoidPaymentRequestSchema,
} from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { badRequest } from "@shop/platform";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPaymentService } from "../src/payment-service.js";
import { PaymentStore } from "../src/store.js";
import { type EngineDatabase, engines, RecordingProcessor } from "./engines.js";

/** Input validation of the handlers, called directly: nothing invalid reaches the store or the processor. */
describe("PaymentService validation", () => {
  let handle: EngineDatabase;
  let processor: RecordingProcessor;
  let payments: ReturnType<typeof createPaymentService>;
  beforeAll(async () => {
    handle = await engines[0]!.open();
    processor = new RecordingProcessor();
    payments = createPaymentService({ store: new PaymentStore(handle.db), processor });
  });
  afterAll(async () => {
    await handle?.dispose();
  });

  const ctx = (name: "authorizePayment" | "voidPayment") =>
    createHandlerContext({
      service: PaymentService,
      method: PaymentService.method[name],
      protocolName: "grpc",
      requestMethod: "POST",
      url: `/${name}`,
    });
  const fail = (result: unknown) =>
    Promise.resolve(result).then(
      () => expect.fail("expected an error"),
      (e: unknown) => ConnectError.from(e),
    );
  const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((v) => v.field);

  it("rejects an empty authorization with INVALID_ARGUMENT naming every missing field", async () => {
    const error = await fail(payments.authorizePayment(create(AuthorizePaymentRequestSchema, {}), ctx("authorizePayment")));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["idempotency_key", "order_id", "card_token", "amount"]);
    expect(processor.calls).toEqual([]);
  });

  it("rejects a zero amount and a currency that is not an ISO 4217 code", async () => {
    const request = create(AuthorizePaymentRequestSchema, {
      idempotencyKey: "k",
      orderId: "o",
      cardToken: "tok_visa",
      amount: { currencyCode: "eur", amountMinor: 0n },
    });
    const error = await fail(payments.authorizePayment(request, ctx("authorizePayment")));
    expect(fields(error)).toEqual(["amount.currency_code", "amount.amount_minor"]);
    expect(processor.calls).toEqual([]);
  });

  it("rejects a void that names neither a payment id nor an idempotency key", async () => {
    const error = await fail(payments.voidPayment(create(VoidPaymentRequestSchema, {}), ctx("voidPayment")));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["payment_id", "idempotency_key"]);
  });
});
