import { UnprocessableMessageError } from "@shop/platform/messaging";

/** A rendered notification. */
export interface RenderedNotification {
  subject: string;
  body: string;
}

type Template = (p: Readonly<Record<string, string>>) => RenderedNotification;

const TEMPLATES: Readonly<Record<string, Template>> = {
  order_confirmed: (p) => ({
    subject: `Your order ${p.order_id ?? ""} is confirmed`,
    body:
      `Thank you! Your order ${p.order_id ?? ""} is confirmed${p.total ? ` (total ${p.total})` : ""}. ` +
      "We will let you know when it ships.",
  }),
  order_rejected: (p) => ({
    subject: `Your order ${p.order_id ?? ""} could not be placed`,
    body: `Sorry, your order ${p.order_id ?? ""} could not be placed${p.reason ? `: ${p.reason}` : ""}. You have not been charged.`,
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
