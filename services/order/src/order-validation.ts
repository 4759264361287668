import { createHash } from "node:crypto";
import type { CreateOrderRequest } from "@shop/contracts/shop/order/v1/order_service_pb";

// A CreateOrderRequest's input rules (lengths, 1 to 50 items with unique SKUs, quantities, the
// e-mail address) are buf.validate rules in order_service.proto, enforced by the platform before
// the handler runs.

/** A digest of what the request asks for, to tell a retry from a different request reusing its id. */
export function requestHash(request: CreateOrderRequest): string {
  const canonical = JSON.stringify({
    items: request.items.map((item) => [item.sku, item.quantity]),
    cardToken: request.cardToken,
    email: request.email,
  });
  return createHash("sha256").update(canonical).digest("base64url");
}
