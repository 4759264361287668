import cluster from "node:cluster";
import type { Logger } from "@shop/platform";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { GatewayConfig } from "../config.js";

/** The outcome of asking the limiter for one call. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Per-caller admission: `take(key)` spends one call of that caller's allowance. */
export interface RateLimiter {
  take(key: string): Promise<RateDecision>;
}

/** Where the counters live: this process, or the cluster primary (shared by every worker). */
export type RateLimitStore = "process" | "cluster";

// One name for the counters in the primary: every worker's limiter with this prefix shares them.
const KEY_PREFIX = "gateway-rate-limit";

/**
 * The window the configured rates map to: `burst` calls per window of `burst / perSecond` seconds
 * (100 and 50/s: 100 calls per 2 s). A fixed window, not a sliding one: across a window's edge a
 * caller can get up to 2 x burst calls in quick succession, never more than `burst` per window.
 */
export function rateLimitWindow(rate: GatewayConfig["rateLimit"]): { points: number; duration: number } {
  return { points: rate.burst, duration: rate.burst / rate.perSecond };
}

// The IPC channel between the workers' limiters and the primary's counters.
const CHANNEL = "gateway-rate-limit";

/** One worker's batch: its number, the window, and [call id, key] per call. */
interface TakeBatch {
  channel: typeof CHANNEL;
  batch: number;
  points: number;
  duration: number;
  calls: [number, string][];
}
/** The primary's answer to a batch: [call id, 1 allowed | 0 refused | -1 failed, ms before the window ends]. */
interface TakeAnswers {
  channel: typeof CHANNEL;
  batch: number;
  answers: [number, number, number][];
}

/**
 * Installs the primary's side of the shared limiter: the counters every worker's `take` asks over
 * IPC. A worker sends its calls in batches (see clusterTaker) and gets one answer per batch back:
 * measured, one IPC message per call (rate-limiter-flexible's RateLimiterCluster) was ~12 % of a
 * worker's CPU at c=64 (`writeUtf8String`, a pipe write each way per call) plus the primary's.
 * The counters and the fixed window are the same RateLimiterMemory's, now all in the primary.
 */
export function serveSharedRateLimits(): void {
  const limiters = new Map<string, RateLimiterMemory>();
  cluster.on("message", (worker, message: TakeBatch) => {
    if (message?.channel !== CHANNEL) return;
    const window = `${message.points}/${message.duration}`;
    let limiter = limiters.get(window);
    if (!limiter) {
      limiter = new RateLimiterMemory({ points: message.points, duration: message.duration, keyPrefix: KEY_PREFIX });
      limiters.set(window, limiter);
    }
    const memory = limiter;
    void Promise.all(
      message.calls.map(([id, key]) =>
        memory.consume(key).then(
          (): [number, number, number] => [id, 1, 0],
          (rejection: unknown): [number, number, number] =>
            rejection instanceof RateLimiterRes ? [id, 0, rejection.msBeforeNext] : [id, -1, 0],
        ),
      ),
    ).then((answers) => {
      if (worker.isConnected()) worker.send({ channel: CHANNEL, batch: message.batch, answers } satisfies TakeAnswers);
    });
  });
}

type Pending = { resolve: (decision: RateDecision) => void; reject: (error: Error) => void };

/**
 * A worker's view of the primary's counters. At most one batch is out at a time: takes that arrive
 * while it is are sent together when its answer comes back (or after one event-loop turn when none
 * is out), so under load a batch carries every call of the round trip and at low load a call waits
 * no longer than before. Each batch is answered within `timeoutMs` or its calls fail (and the
 * caller falls back to this worker's own counters).
 */
function clusterTaker(window: { points: number; duration: number }, timeoutMs: number) {
  const pending = new Map<number, Pending>();
  let queue: [number, string][] = [];
  let nextId = 0;
  let outstanding: { batch: number; timer: NodeJS.Timeout } | undefined;
  let batches = 0;
  let scheduled = false;
  /** The batch out is answered or timed out: the next may go (a late answer to an earlier batch changes nothing). */
  const settled = (batch: number) => {
    if (outstanding?.batch !== batch) return;
    clearTimeout(outstanding.timer);
    outstanding = undefined;
    if (queue.length > 0) flush();
  };
  process.on("message", (message: TakeAnswers) => {
    if (message?.channel !== CHANNEL) return;
    for (const [id, outcome, msBeforeNext] of message.answers) {
      const call = pending.get(id);
      if (!call) continue; // answered after its batch timed out
      pending.delete(id);
      if (outcome === 1) call.resolve({ allowed: true });
      else if (outcome === 0) call.resolve({ allowed: false, retryAfterMs: Math.max(1, msBeforeNext) });
      else call.reject(new Error("the primary's rate limiter failed"));
    }
    settled(message.batch);
  });
  const flush = () => {
    scheduled = false;
    if (outstanding || queue.length === 0) return;
    const calls = queue;
    queue = [];
    const batch = ++batches;
    process.send?.({ channel: CHANNEL, batch, points: window.points, duration: window.duration, calls } satisfies TakeBatch);
    const timer = setTimeout(() => {
      for (const [id] of calls) {
        const call = pending.get(id);
        if (!call) continue;
        pending.delete(id);
        call.reject(new Error("shared rate limit: no answer from the primary in time"));
      }
      settled(batch);
    }, timeoutMs);
    timer.unref();
    outstanding = { batch, timer };
  };
  return (key: string): Promise<RateDecision> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      queue.push([id, key]);
      if (!outstanding && !scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}

/**
 * A limiter with the configured window. With `store: "cluster"` (a node:cluster worker) each call
 * asks the primary, so N workers together allow the configured rate, not N times it; should the
 * primary not answer in time, this worker's own counters decide instead (logged), so calls go on.
 */
export function createRateLimiter(rate: GatewayConfig["rateLimit"], store: RateLimitStore, logger: Logger): RateLimiter {
  const window = rateLimitWindow(rate);
  const local = new RateLimiterMemory({ ...window, keyPrefix: KEY_PREFIX });
  const decide = (result: unknown): RateDecision => {
    if (result instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, result.msBeforeNext) };
    throw result;
  };
  const takeLocal = (key: string) => local.consume(key).then(() => ({ allowed: true }) as const, decide);
  if (store === "process") return { take: takeLocal };
  const takeShared = clusterTaker(window, 1_000);
  return {
    take(key) {
      return takeShared(key).catch((error: unknown) => {
        logger.warn({ err: error }, "shared rate limit unanswered; this worker's own counters decide");
        return takeLocal(key);
      });
    },
  };
}
