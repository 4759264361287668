import { randomUUID } from "node:crypto";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import { unavailable } from "@shop/platform";

/** What the card network said to an authorization. */
export type AuthorizationOutcome = { approved: true; reference: string } | { approved: false; reason: string };

/**
 * The card processor behind the payment service. The simulated one below stands in for a real
 * acquirer; a real one implements the same four calls. Transient failures throw UNAVAILABLE.
 */
export interface CardProcessor {
  authorize(cardToken: string, amount: Money): Promise<AuthorizationOutcome>;
  capture(reference: string, amount: Money): Promise<void>;
  void(reference: string): Promise<void>;
  refund(reference: string, amount: Money): Promise<void>;
}

/**
 * Test cards: `tok_visa` is approved, `tok_declined` is declined ("insufficient funds"),
 * `tok_unavailable` fails with UNAVAILABLE every time; any other token is declined as unknown.
 */
export function createSimulatedProcessor(): CardProcessor {
  return {
    async authorize(cardToken) {
      switch (cardToken) {
        case "tok_visa":
          return { approved: true, reference: `sim_${randomUUID()}` };
        case "tok_declined":
          return { approved: false, reason: "card declined: insufficient funds" };
        case "tok_unavailable":
          throw unavailable("PROCESSOR_UNAVAILABLE", "the card processor is not answering; try again later", 1000);
        default:
          return { approved: false, reason: `card declined: unknown card token "${cardToken}"` };
      }
    },
    async capture() {},
    async void() {},
    async refund() {},
  };
}
