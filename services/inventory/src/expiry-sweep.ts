import type { Logger } from "@shop/platform";
import type { InventoryStore } from "./store.js";

/** A running expiry sweep; `stop` lets a sweep in progress finish. */
export interface ExpirySweep {
  stop(): Promise<void>;
}

/**
 * Expires overdue reservations every `intervalMs`, so their stock comes back even if nobody calls
 * again (a dead order service, a lost compensation). One sweep at a time.
 */
export function startExpirySweep(store: InventoryStore, logger: Logger, intervalMs: number): ExpirySweep {
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= store
      .expireOverdue()
      .then(
        (expired) => void (expired > 0 && logger.info({ expired }, "reservations expired")),
        (error: unknown) => logger.error({ err: error }, "expiry sweep failed"),
      )
      .finally(() => (sweeping = undefined));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await sweeping;
    },
  };
}
