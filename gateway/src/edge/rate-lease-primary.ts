import cluster from "node:cluster";
import { LEASE_CHANNEL, type LeaseAsks, type LeaseGrants } from "./rate-lease-messages.js";

/** One caller's fixed window in the primary: when it ends and how many of its tokens no worker holds yet. */
interface CallerWindow {
  end: number;
  left: number;
}

/**
 * How many tokens one ask gets: what the worker's waiting calls need, and at least a share of what
 * is left — 1/(2 x workers) of it, so a busy worker needs few asks per window while a worker that goes
 * quiet strands little of a window (the shares shrink as the window runs out; a caller on one worker
 * alone still gets every token, in a few asks).
 */
export function leaseSize(left: number, wanted: number, workers: number): number {
  return Math.min(left, Math.max(wanted, Math.ceil(left / (2 * Math.max(1, workers)))));
}

/**
 * Installs the primary's side of the shared limiter. Each caller has one fixed window of `points`
 * tokens per `duration` seconds, started by the first ask after the last one ended (as a
 * RateLimiterMemory's key starts with its first call); the primary hands its tokens out as leases and
 * never grants more than `points` per window, so the workers together never admit more. A lease is
 * valid until its window's end (the same wall clock in every process of the machine), so tokens of a
 * worker that died or went quiet expire with the window; nothing is returned or recalled.
 * Measured before leases: one IPC round trip per batch of calls woke the primary per call at low
 * rates (0.5–0.7 ms a call at c=1); a lease costs one round trip per share instead.
 */
export function serveSharedRateLimits(): void {
  const windows = new Map<string, Map<string, CallerWindow>>();
  let sweptAt = Date.now();
  cluster.on("message", (worker, message: LeaseAsks) => {
    if (message?.channel !== LEASE_CHANNEL) return;
    const now = Date.now();
    const config = `${message.points}/${message.duration}`;
    let callers = windows.get(config);
    if (!callers) {
      callers = new Map();
      windows.set(config, callers);
    }
    // Forget ended windows now and then (no timer per caller): at most once per window length.
    if (now - sweptAt >= message.duration * 1_000) {
      sweptAt = now;
      for (const [key, window] of callers) if (window.end <= now) callers.delete(key);
    }
    const workers = Object.keys(cluster.workers ?? {}).length;
    const grants: LeaseGrants["grants"] = message.asks.map(([key, wanted]) => {
      let window = callers.get(key);
      if (!window || window.end <= now) {
        window = { end: now + message.duration * 1_000, left: message.points };
        callers.set(key, window);
      }
      const granted = leaseSize(window.left, wanted, workers);
      window.left -= granted;
      return [key, granted, window.end, window.left];
    });
    if (worker.isConnected()) worker.send({ channel: LEASE_CHANNEL, batch: message.batch, grants } satisfies LeaseGrants);
  });
}
