/**
 * The reasons a customer is shown for an order's status (`Order.status_reason`, and the rejection
 * e-mail): a fixed set of domain reasons. What actually went wrong inside the mesh — a dependency's
 * error text, an address, a code — goes to the log at warn, never here.
 */
export const OrderReason = {
  OUT_OF_STOCK: "out of stock",
  PRODUCT_UNAVAILABLE: "product unavailable",
  PAYMENT_DECLINED: "payment declined",
  PAYMENT_FAILED: "payment could not be completed",
  CANCELLED_BY_CUSTOMER: "cancelled by customer",
  TIMED_OUT: "timed out",
} as const;

/** One of the customer-visible reasons. */
export type OrderReason = (typeof OrderReason)[keyof typeof OrderReason];
