import { context, ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { type Logger, traceFields } from "@shop/platform";
import type { OrderSaga } from "./saga.js";
import { recordSagaBacklog } from "./saga-metrics.js";
import type { OrderStore } from "./store.js";

/** A running recovery loop; `stop` waits for the pass in progress. */
export interface RecoveryLoop {
  stop(): Promise<void>;
}

/**
 * Drives unfinished orders forward (or compensates them) at start-up and every `intervalMs`:
 * orders a crashed process left half-way, and orders whose dependency was down. Each pass also
 * counts the unfinished sagas for /metrics (`order_saga_unfinished`, `…_oldest_unfinished_age_seconds`).
 */
export function startRecovery(
  deps: { store: OrderStore; saga: OrderSaga; logger: Logger },
  intervalMs: number,
  batchSize = 50,
): RecoveryLoop {
  const tracer = trace.getTracer("@shop/order");
  let running: Promise<number> | undefined;
  let stopped = false;

  async function pass(): Promise<number> {
    // What an operator watches: how many sagas are unfinished and how long the oldest has waited.
    recordSagaBacklog(await deps.store.unfinishedSagas());
    const due = await deps.store.dueForRecovery(batchSize);
    for (const orderId of due) {
      if (stopped) break;
      // Each recovery run is a trace of its own: its calls, outbox rows and log lines carry it.
      const span = tracer.startSpan("recover order", { attributes: { "order.id": orderId } }, ROOT_CONTEXT);
      try {
        const record = await context.with(trace.setSpan(ROOT_CONTEXT, span), () => deps.saga.drive(orderId));
        deps.logger.info({ orderId, step: record?.sagaStep, attempts: record?.attempts, ...traceFields(span) }, "recovery drove order");
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    }
    return due.length;
  }

  function runOnce(): Promise<number> {
    running ??= pass()
      .catch((error: unknown) => {
        deps.logger.error({ err: error }, "recovery pass failed");
        return 0;
      })
      .finally(() => (running = undefined));
    return running;
  }

  void runOnce();
  const timer = setInterval(() => void runOnce(), intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
