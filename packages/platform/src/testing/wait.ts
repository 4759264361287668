/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Fails after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Pause between probes (default 20 ms). */
  intervalMs?: number;
  /** Says what was awaited in the timeout error. */
  what?: string;
}

/**
 * Probes until `probe` returns a value other than `undefined` or `false` and resolves to it
 * (`true` for a condition), failing with an error after `timeoutMs`: a test waits for an event it
 * can observe, never sleeps through a window. The probe may be async; it runs again only after
 * the previous run settled.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 20, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
