import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { AuthorizePaymentRequestSchema, VoidPaymentRequestSchema } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { badRequest } from "@shop/platform";
import { requestCheck } from "@shop/platform/validation";
import { describe, expect, it } from "vitest";

/**
 * Input validation of PaymentService requests: the buf.validate rules of payment_service.proto, which
 * the platform checks before any handler runs (so nothing invalid reaches the store or the processor;
 * payment-handlers.test.ts shows it through a transport).
 */
describe("PaymentService request rules", () => {
  const refusedByContract = <Desc extends DescMessage>(schema: Desc, request: MessageShape<Desc>) =>
    requestCheck(schema)(request) ?? expect.fail("expected the contract to refuse the request");
  const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((v) => v.field);

  it("refuse an empty authorization with INVALID_ARGUMENT naming every missing field", () => {
    const error = refusedByContract(AuthorizePaymentRequestSchema, create(AuthorizePaymentRequestSchema, {}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["idempotency_key", "order_id", "amount", "card_token"]);
  });

  it("refuse a zero amount and a currency that is not an ISO 4217 code", () => {
    const request = create(AuthorizePaymentRequestSchema, {
      idempotencyKey: "k",
      orderId: "o",
      cardToken: "tok_visa",
      amount: { currencyCode: "eur", amountMinor: 0n },
    });
    expect(fields(refusedByContract(AuthorizePaymentRequestSchema, request))).toEqual(["amount", "amount.currency_code"]);
  });

  it("refuse a void that names neither a payment id nor an idempotency key", () => {
    const error = refusedByContract(VoidPaymentRequestSchema, create(VoidPaymentRequestSchema, {}));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(badRequest(error)?.fieldViolations[0]?.description).toBe("set payment_id or idempotency_key");
  });

  it("accept a well-formed authorization and a void by key alone", () => {
    const authorization = create(AuthorizePaymentRequestSchema, {
      idempotencyKey: "ord_1",
      orderId: "ord_1",
      cardToken: "tok_visa",
      amount: { currencyCode: "EUR", amountMinor: 1999n },
    });
    expect(requestCheck(AuthorizePaymentRequestSchema)(authorization)).toBeUndefined();
    expect(requestCheck(VoidPaymentRequestSchema)(create(VoidPaymentRequestSchema, { idempotencyKey: "ord_1" }))).toBeUndefined();
  });
});
