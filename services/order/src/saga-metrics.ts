import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { metricsRegistry } from "@shop/platform";
import { Counter, Gauge } from "prom-client";

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

const unfinished = new Gauge({
  name: "order_saga_unfinished",
  help: "Orders whose saga has not finished (placed, retrying a step, compensating), as the recovery loop last counted them.",
  registers: [metricsRegistry],
});
const oldestUnfinished = new Gauge({
  name: "order_saga_oldest_unfinished_age_seconds",
  help: "Age of the oldest order whose saga has not finished (0 when none): a saga stuck behind a dependency shows here.",
  registers: [metricsRegistry],
});

/** Records the unfinished sagas the recovery loop counted (`order_saga_unfinished`, `order_saga_oldest_unfinished_age_seconds`). */
export function recordSagaBacklog(backlog: { count: number; oldestAgeSeconds: number }): void {
  unfinished.set(backlog.count);
  oldestUnfinished.set(backlog.oldestAgeSeconds);
}
