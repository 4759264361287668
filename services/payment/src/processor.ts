import { randomUUID } from "node:crypto";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import { unavailable } from "@shop/platform";

/** What the card network said to an authorization: a hold with its reference, or a decline with its reason. */
export type AuthorizationOutcome = { approved: true; reference: string } | { approved: false; reason: string };

/** One authorization as sent to the processor. */
export interface AuthorizationRequest {
  /** Forwarded to the processor, as real acquirers accept, so a retried authorization holds once. */
  idempotencyKey: string;
  cardToken: string;
  amount: Money;
}

/**
 * The card processor behind the payment service. The simulated one below stands in for a real
 * acquirer; a real one implements the same four calls. A decline is a result, not an error;
 * transient failures throw UNAVAILABLE (a ConnectError) and may be retried.
 */
export interface CardProcessor {
  authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome>;
  capture(reference: string, amount: Money): Promise<void>;
  void(reference: string): Promise<void>;
  refund(reference: string, amount: Money): Promise<void>;
}

/**
 * Test cards: `tok_visa` is approved, `tok_declined` is declined ("card declined: insufficient
 * funds"), `tok_unavailable` fails with UNAVAILABLE every time. Any other token is declined
 * ("card declined: unknown card token") rather than rejected as INVALID_ARGUMENT: to a payment
 * service an unknown card is the card network's answer, and the saga handles it like any decline.
 * Like a real acquirer it answers a repeated idempotency key with its first outcome.
 */
export class SimulatedCardProcessor implements CardProcessor {
  private readonly outcomes = new Map<string, AuthorizationOutcome>();

  async authorize({ idempotencyKey, cardToken }: AuthorizationRequest): Promise<AuthorizationOutcome> {
    const previous = this.outcomes.get(idempotencyKey);
    if (previous) return previous;
    const outcome = decide(cardToken);
    this.outcomes.set(idempotencyKey, outcome);
    return outcome;
  }

  async capture(): Promise<void> {}

  async void(): Promise<void> {}

  async refund(): Promise<void> {}
}

function decide(cardToken: string): AuthorizationOutcome {
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
}

/** The simulated processor (kept for callers of the first version of this module). */
export function createSimulatedProcessor(): CardProcessor {
  return new SimulatedCardProcessor();
}
