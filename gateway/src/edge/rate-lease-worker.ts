import { LEASE_CHANNEL, type LeaseAsks, type LeaseGrants } from "./rate-lease-messages.js";
import type { RateDecision } from "./rate-limiter.js";

type Waiter = { resolve: (decision: RateDecision) => void; reject: (error: Error) => void };

/** This worker's share of one caller's window. */
interface Lease {
  /** Tokens this worker may still spend, until `end`. */
  tokens: number;
  /** The window's end (epoch ms, the primary's): from then the tokens are void. */
  end: number;
  /** The primary has no tokens of this window left: once `tokens` are spent, calls are refused until `end`. */
  exhausted: boolean;
  /** Ask for more in the background once `tokens` fall to this. */
  lowWater: number;
  /** An ask for this caller is queued or out. */
  asking: boolean;
  /** Calls waiting for tokens, oldest first. */
  waiting: Waiter[];
}

const ALLOWED: RateDecision = { allowed: true };
const allowedNow = Promise.resolve(ALLOWED);

/**
 * A worker's view of the primary's shared counters: it spends a lease of each caller's window
 * locally (no message per call) and asks for the next share in the background when half of the
 * last one is spent. Asks go in batches, at most one batch out at a time (asks arriving meanwhile go
 * in the next); each batch is answered within `timeoutMs` or the calls that waited for it fail (and
 * the caller falls back to this worker's own counters), as before leases.
 */
export function leaseTaker(window: { points: number; duration: number }, timeoutMs: number) {
  const leases = new Map<string, Lease>();
  let queue = new Set<string>();
  let outstanding: { batch: number; timer: NodeJS.Timeout } | undefined;
  let batches = 0;
  let scheduled = false;
  let sweptAt = Date.now();
  const refusal = (lease: Lease, now: number): RateDecision => ({ allowed: false, retryAfterMs: Math.max(1, lease.end - now) });
  const ask = (key: string, lease: Lease) => {
    lease.asking = true;
    queue.add(key);
    if (!outstanding && !scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  /** The batch out is answered or timed out: the next may go. */
  const settled = (batch: number) => {
    if (outstanding?.batch !== batch) return;
    clearTimeout(outstanding.timer);
    outstanding = undefined;
    if (queue.size > 0) flush();
  };
  /** Gives waiting calls the lease's tokens; refuses them if the window has none left; asks again otherwise. */
  const serve = (key: string, lease: Lease) => {
    const now = Date.now();
    let served = 0;
    if (now >= lease.end) {
      // The share came after its window ended (or the window ran out meanwhile): ask for the next.
      lease.tokens = 0;
      lease.exhausted = false;
    } else {
      while (served < lease.waiting.length && lease.tokens > 0) {
        lease.tokens--;
        (lease.waiting[served++] as Waiter).resolve(ALLOWED);
      }
      if (lease.exhausted) {
        for (let i = served; i < lease.waiting.length; i++) (lease.waiting[i] as Waiter).resolve(refusal(lease, now));
        served = lease.waiting.length;
      }
    }
    lease.waiting.splice(0, served);
    if (lease.asking || lease.exhausted) return;
    if (lease.waiting.length > 0 || (now < lease.end && lease.tokens <= lease.lowWater)) ask(key, lease);
  };
  process.on("message", (message: LeaseGrants) => {
    if (message?.channel !== LEASE_CHANNEL) return;
    // A late answer (its batch timed out) still carries tokens the primary counted as granted: use them.
    const current = outstanding?.batch === message.batch;
    for (const [key, granted, end, left] of message.grants) {
      const lease = leases.get(key);
      if (!lease || end < lease.end) continue; // a window already replaced
      if (end > lease.end) {
        lease.tokens = granted;
        lease.end = end;
      } else lease.tokens += granted;
      lease.exhausted = left === 0;
      lease.lowWater = Math.floor(granted / 2);
      if (current) lease.asking = false;
      serve(key, lease);
    }
    settled(message.batch);
  });
  const flush = () => {
    scheduled = false;
    if (outstanding || queue.size === 0) return;
    const asks: [string, number][] = [];
    for (const key of queue) asks.push([key, leases.get(key)?.waiting.length ?? 0]);
    queue = new Set();
    const batch = ++batches;
    process.send?.({ channel: LEASE_CHANNEL, batch, points: window.points, duration: window.duration, asks } satisfies LeaseAsks);
    const timer = setTimeout(() => {
      // The calls that waited for this batch fail; calls that came after it get their own ask.
      for (const [key, waited] of asks) {
        const lease = leases.get(key);
        if (!lease) continue;
        lease.asking = false;
        const failed = lease.waiting.splice(0, waited);
        for (const call of failed) call.reject(new Error("shared rate limit: no answer from the primary in time"));
        if (lease.waiting.length > 0) ask(key, lease);
      }
      settled(batch);
    }, timeoutMs);
    timer.unref();
    outstanding = { batch, timer };
  };
  /** Drops leases whose window ended and that nobody waits on; at most once per window length (no timer per caller). */
  const sweep = (now: number) => {
    sweptAt = now;
    for (const [key, lease] of leases) {
      if (lease.end <= now && !lease.asking && lease.waiting.length === 0) leases.delete(key);
    }
  };
  return (key: string): Promise<RateDecision> => {
    const now = Date.now();
    if (now - sweptAt >= window.duration * 1_000) sweep(now);
    let lease = leases.get(key);
    if (lease && now < lease.end) {
      if (lease.tokens > 0) {
        lease.tokens--;
        if (lease.tokens <= lease.lowWater && !lease.asking && !lease.exhausted) ask(key, lease);
        return allowedNow;
      }
      if (lease.exhausted) return Promise.resolve(refusal(lease, now));
    }
    if (!lease) {
      lease = { tokens: 0, end: 0, exhausted: false, lowWater: 0, asking: false, waiting: [] };
      leases.set(key, lease);
    } else if (now >= lease.end) {
      lease.tokens = 0;
      lease.exhausted = false;
    }
    const waiting = lease;
    return new Promise((resolve, reject) => {
      waiting.waiting.push({ resolve, reject });
      if (!waiting.asking) ask(key, waiting);
    });
  };
}
