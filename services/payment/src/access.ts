import type { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import type { AccessPolicy } from "@shop/platform";

/** Payments are the order saga's alone: it authorizes, captures, voids, refunds and reads them. */
export const paymentAccess: AccessPolicy<typeof PaymentService> = {
  callers: {
    authorizePayment: ["order"],
    capturePayment: ["order"],
    voidPayment: ["order"],
    refundPayment: ["order"],
    getPayment: ["order"],
  },
  userAsserters: ["order"],
};
