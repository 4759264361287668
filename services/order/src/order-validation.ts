import { createHash } from "node:crypto";
import type { CreateOrderRequest } from "@shop/contracts/shop/order/v1/order_service_pb";
import type { FieldViolation } from "@shop/platform";

const MAX_ITEMS = 50;
const MAX_QUANTITY = 100;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Every problem with a CreateOrderRequest, as field violations; empty when it is valid. */
export function validateCreateOrder(request: CreateOrderRequest): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const check = (ok: boolean, field: string, description: string) => {
    if (!ok) violations.push({ field, description });
  };
  check(request.requestId.trim() !== "", "request_id", "must be set: a unique key per order attempt, e.g. a UUID");
  check(request.requestId.length <= 128, "request_id", "must be at most 128 characters");
  check(request.items.length > 0, "items", "must contain at least one item");
  check(request.items.length <= MAX_ITEMS, "items", `must contain at most ${MAX_ITEMS} items`);
  const seen = new Set<string>();
  request.items.forEach((item, i) => {
    check(item.sku.trim() !== "", `items[${i}].sku`, "must be set");
    check(!seen.has(item.sku), `items[${i}].sku`, `"${item.sku}" appears more than once; order it once with the total quantity`);
    check(item.quantity >= 1 && item.quantity <= MAX_QUANTITY, `items[${i}].quantity`, `must be between 1 and ${MAX_QUANTITY}`);
    seen.add(item.sku);
  });
  check(request.cardToken.trim() !== "", "card_token", "must be set, e.g. tok_visa");
  check(EMAIL.test(request.email), "email", "must be an e-mail address");
  return violations;
}

/** A digest of what the request asks for, to tell a retry from a different request reusing its id. */
export function requestHash(request: CreateOrderRequest): string {
  const canonical = JSON.stringify({
    items: request.items.map((item) => [item.sku, item.quantity]),
    cardToken: request.cardToken,
    email: request.email,
  });
  return createHash("sha256").update(canonical).digest("base64url");
}
