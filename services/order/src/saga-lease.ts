import type { Logger } from "@shop/platform";
import type { OrderStore, SagaLease } from "./store.js";

/** A claimed lease, kept alive while its driver works. */
export interface HeldLease extends SagaLease {
  /** Aborts when the lease is found taken over: the driver's remote calls stop with it. */
  readonly signal: AbortSignal;
  /** True once the lease is known to be taken over. */
  readonly lost: boolean;
  /** Stops renewing (the driver is done, or gives the lease up); resolves once no renewal is in flight. */
  stop(): Promise<void>;
}

/**
 * Renews `lease` every `leaseMs / 3` until `stop()`, so a driver slower than one lease (a run
 * with compensation can take several remote calls of `stepTimeoutMs`) keeps its order. A renewal
 * that finds the lease taken over aborts `signal`; one that fails (the database briefly away) is
 * retried at the next beat — if the lease runs out meanwhile, another driver may take it, and
 * the fenced writes (`OrderStore.advance`, `recordFailure`) keep this one from writing.
 */
export function holdLease(store: OrderStore, lease: SagaLease, leaseMs: number, logger: Logger): HeldLease {
  const controller = new AbortController();
  let lost = false;
  let renewing: Promise<void> | undefined;
  const beat = setInterval(
    () => {
      renewing ??= store
        .renew(lease, leaseMs)
        .then(
          (held) => {
            if (held || lost || controller.signal.aborted) return;
            lost = true;
            clearInterval(beat);
            controller.abort(new Error(`saga lease of order ${lease.orderId} taken over`));
          },
          (error: unknown) => logger.warn({ orderId: lease.orderId, err: error }, "saga lease renewal failed; retrying at the next beat"),
        )
        .finally(() => (renewing = undefined));
    },
    Math.max(1, Math.floor(leaseMs / 3)),
  );
  beat.unref();
  return {
    orderId: lease.orderId,
    token: lease.token,
    signal: controller.signal,
    get lost() {
      return lost;
    },
    async stop() {
      clearInterval(beat);
      await renewing;
    },
  };
}
