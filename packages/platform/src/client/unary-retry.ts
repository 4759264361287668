import { Code, ConnectError } from "@connectrpc/connect";
import type { RetryOptions } from "./channel-options.js";

/** grpc-js caps a retry policy's attempts at 5; the platform's transport keeps that cap. */
const MAX_ATTEMPTS = 5;

/** Waits `ms`, or rejects CANCELLED when `signal` aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ConnectError("Cancelled on client", Code.Canceled));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt` again after UNAVAILABLE — the one code that says the request was not processed —
 * as grpc-js's retry policy does: at most `maxAttempts` (including the first, capped at 5), waiting
 * a random time up to `initialBackoffMs * backoffMultiplier^(n-1)` (capped by `maxBackoffMs`) before
 * retry n, and never past the call's deadline (the last error stands then). An error `committed`
 * says came after the server's response headers is not retried (gRFC A6: the call was committed).
 */
export async function retryingUnary<T>(
  attempt: () => Promise<T>,
  retry: RetryOptions | false,
  deadline: number,
  signal: AbortSignal | undefined,
  committed: (error: ConnectError) => boolean = () => false,
): Promise<T> {
  const attempts = retry ? Math.min(retry.maxAttempts, MAX_ATTEMPTS) : 1;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!retry || n >= attempts || !(error instanceof ConnectError) || error.code !== Code.Unavailable || committed(error)) throw error;
      const wait = Math.random() * Math.min(retry.initialBackoffMs * retry.backoffMultiplier ** (n - 1), retry.maxBackoffMs);
      if (Date.now() + wait >= deadline) throw error;
      await pause(wait, signal);
    }
  }
}
