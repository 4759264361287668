// The IPC messages between the workers' limiters and the primary's shared counters: a worker asks
// for a share of a caller's window (a lease of tokens) and spends it locally, without a message per call.

/** The channel both sides tag their messages with (other cluster traffic is ignored). */
export const LEASE_CHANNEL = "gateway-rate-limit";

/** One worker's batch of asks: its number, the window, and [key, tokens wanted] per caller. */
export interface LeaseAsks {
  channel: typeof LEASE_CHANNEL;
  batch: number;
  points: number;
  duration: number;
  asks: [string, number][];
}

/**
 * The primary's answer to a batch: per caller [key, tokens granted, the window's end (epoch ms),
 * tokens of the window not yet granted to any worker]. Granted tokens are valid until the end only.
 */
export interface LeaseGrants {
  channel: typeof LEASE_CHANNEL;
  batch: number;
  grants: [string, number, number, number][];
}
