import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { metricsRegistry } from "@shop/platform";
import { Counter } from "prom-client";

const FINAL_STATUSES = [OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED];

const outcomes = new Counter({
  name: "order_saga_outcomes_total",
  help: "Orders the saga brought to a final status, by status (CONFIRMED, REJECTED, CANCELLED).",
  labelNames: ["status"] as const,
  registers: [metricsRegistry],
});
// Every series from the start, so a rate over the first outcome is not lost to a missing sample.
for (const status of FINAL_STATUSES) outcomes.inc({ status: OrderStatus[status] }, 0);

/** Counts an order reaching `status` (on /metrics as `order_saga_outcomes_total{status}`). */
export function recordSagaOutcome(status: OrderStatus): void {
  outcomes.inc({ status: OrderStatus[status] });
}
