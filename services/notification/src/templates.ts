import { UnprocessableMessageError } from "@shop/platform/messaging";

/** A rendered notification. */
export interface RenderedNotification {
  subject: string;
  body: string;
}

type Template = (p: Readonly<Record<string, string>>) => RenderedNotification;

/**
 * The reasons an e-mail may quote: the order service's fixed, customer-facing reasons. Anything
 * else in the `reason` parameter (an internal error text, from an older or a faulty producer) is
 * left out of the message rather than shown to the customer.
 */
export const CUSTOMER_REASONS: ReadonlySet<string> = new Set([
  "out of stock",
  "product unavailable",
  "payment declined",
  "payment could not be completed",
  "cancelled by customer",
  "timed out",
]);

function quotedReason(reason: string | undefined): string {
  return reason && CUSTOMER_REASONS.has(reason) ? `: ${reason}` : "";
}

const TEMPLATES: Readonly<Record<string, Template>> = {
  order_confirmed: (p) => ({
    subject: `Your order ${p.order_id ?? ""} is confirmed`,
    body:
      `Thank you! Your order ${p.order_id ?? ""} is confirmed${p.total ? ` (total ${p.total})` : ""}. ` +
      "We will let you know when it ships.",
  }),
  order_rejected: (p) => ({
    subject: `Your order ${p.order_id ?? ""} could not be placed`,
    body: `Sorry, your order ${p.order_id ?? ""} could not be placed${quotedReason(p.reason)}. You have not been charged.`,
  }),
  order_cancelled: (p) => ({
    subject: `Your order ${p.order_id ?? ""} is cancelled`,
    body: `Your order ${p.order_id ?? ""} is cancelled${p.total ? `; ${p.total} will be refunded` : ""}.`,
  }),
};

/** The template names the service can render. */
export const TEMPLATE_NAMES = Object.keys(TEMPLATES);

/** Renders `template` with `parameters`; an unknown template can never succeed, so it is unprocessable. */
export function renderTemplate(template: string, parameters: Readonly<Record<string, string>>): RenderedNotification {
  const render = TEMPLATES[template];
  if (!render) throw new UnprocessableMessageError(`unknown template "${template}"`);
  return render(parameters);
}
