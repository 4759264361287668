import { Code, ConnectError } from "@connectrpc/connect";
import { BrokenCircuitError, type CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import { recordBreakerRejection, recordBreakerState } from "../observability/metrics.js";

/** When a target's breaker opens and how long it stays open before a probe. */
export interface BreakerOptions {
  /** Consecutive failures (UNAVAILABLE or DEADLINE_EXCEEDED, after retries) that open it. */
  consecutiveFailures: number;
  /** How long it stays open before letting one probe call through (half-open). */
  halfOpenAfterMs: number;
}

/** Default breaker: opens after 5 consecutive failures, probes after 5 s. */
export const DEFAULT_BREAKER: BreakerOptions = { consecutiveFailures: 5, halfOpenAfterMs: 5_000 };

/** Codes that say the target is unwell, as opposed to the request being wrong. */
function isTargetFailure(error: unknown): boolean {
  return error instanceof ConnectError && (error.code === Code.Unavailable || error.code === Code.DeadlineExceeded);
}

/** A per-target circuit breaker (cockatiel) that fails fast with UNAVAILABLE while open. */
export interface TargetBreaker {
  execute<T>(call: () => Promise<T>): Promise<T>;
  readonly state: CircuitState;
}

/** Creates the breaker for one target, exporting its state as a metric. */
export function createTargetBreaker(target: string, options: BreakerOptions): TargetBreaker {
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhen(isTargetFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.consecutiveFailures),
  });
  recordBreakerState(target, false);
  policy.onStateChange((state) => recordBreakerState(target, state !== CircuitState.Closed));
  return {
    get state() {
      return policy.state;
    },
    async execute(call) {
      try {
        return await policy.execute(call);
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
