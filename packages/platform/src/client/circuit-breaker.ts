import { Code, ConnectError } from "@connectrpc/connect";
import { BrokenCircuitError, type CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import { recordBreakerRejection, recordBreakerState } from "../observability/metrics.js";

/** When a target's breaker opens and how long it stays open before a probe. */
export interface BreakerOptions {
  /** Consecutive failures of the target (see {@link isTargetFailure}, after retries) that open it. */
  consecutiveFailures: number;
  /** How long it stays open before letting one probe call through (half-open). */
  halfOpenAfterMs: number;
}

/** Default breaker: opens after 5 consecutive failures, probes after 5 s. */
export const DEFAULT_BREAKER: BreakerOptions = { consecutiveFailures: 5, halfOpenAfterMs: 5_000 };

/** Who set the deadline a call ran under: the calling code's own budget, or its caller (a shorter propagated one). */
export type DeadlineOwner = "budget" | "caller";

/**
 * Whether a failed call says the target is unwell, as opposed to the request or its caller: UNAVAILABLE
 * and INTERNAL always; DEADLINE_EXCEEDED only when the call ran under its own budget. A deadline the
 * caller imposed (a short `grpc-timeout`, a propagated parent deadline) says nothing about the target,
 * and neither does CANCELLED (the caller left): counting those would let any caller open the breaker
 * for everyone by asking for 1 ms.
 */
export function isTargetFailure(error: unknown, deadline: DeadlineOwner): boolean {
  if (!(error instanceof ConnectError)) return false;
  switch (error.code) {
    case Code.Unavailable:
    case Code.Internal:
      return true;
    case Code.DeadlineExceeded:
      return deadline === "budget";
    default:
      return false;
  }
}

/** A per-target circuit breaker (cockatiel) that fails fast with UNAVAILABLE while open. */
export interface TargetBreaker {
  /** Runs `call`; its failure counts against the target when `isTargetFailure(error, deadline())`. */
  execute<T>(call: () => Promise<T>, deadline: () => DeadlineOwner): Promise<T>;
  readonly state: CircuitState;
}

/**
 * Errors a call classified as the target's failure; the policy sees only the error, so the call marks it.
 * An unmarked error passes through uncounted — and closes a half-open breaker (cockatiel: "task failed
 * successfully"), so a caller can at most shorten an open period, never start or lengthen one.
 */
const targetFailures = new WeakSet<object>();

/** Creates the breaker for one target, exporting its state as a metric. */
export function createTargetBreaker(target: string, options: BreakerOptions): TargetBreaker {
  const policy: CircuitBreakerPolicy = circuitBreaker(
    handleWhen((error) => targetFailures.has(error)),
    { halfOpenAfter: options.halfOpenAfterMs, breaker: new ConsecutiveBreaker(options.consecutiveFailures) },
  );
  recordBreakerState(target, false);
  policy.onStateChange((state) => recordBreakerState(target, state !== CircuitState.Closed));
  return {
    get state() {
      return policy.state;
    },
    async execute(call, deadline) {
      try {
        return await policy.execute(() =>
          call().catch((error: unknown) => {
            if (typeof error === "object" && error !== null && isTargetFailure(error, deadline())) targetFailures.add(error);
            throw error;
          }),
        );
      } catch (error) {
        if (error instanceof BrokenCircuitError) {
          recordBreakerRejection(target);
          throw new ConnectError(`circuit open for ${target}: failing fast`, Code.Unavailable, undefined, undefined, error);
        }
        throw error;
      }
    },
  };
}
