import { describe, expect, it } from "vitest";
import { CUSTOMER_REASONS, renderTemplate } from "../src/templates.js";

describe("the order_rejected e-mail", () => {
  it("quotes a customer-facing reason", () => {
    const { body } = renderTemplate("order_rejected", { order_id: "ord_1", reason: "payment declined" });
    expect(body).toBe("Sorry, your order ord_1 could not be placed: payment declined. You have not been charged.");
  });

  it("never quotes any other text in the reason, such as an internal error from an older or faulty producer", () => {
    const internal = "Unavailable: connect ECONNREFUSED 10.0.0.7:50053 (payment@pod-7)";
    const { subject, body } = renderTemplate("order_rejected", { order_id: "ord_2", reason: internal });
    expect(`${subject} ${body}`).not.toContain("ECONNREFUSED");
    expect(`${subject} ${body}`).not.toContain("10.0.0.7");
    expect(body).toBe("Sorry, your order ord_2 could not be placed. You have not been charged.");
    expect(CUSTOMER_REASONS.has(internal)).toBe(false);
  });
});
