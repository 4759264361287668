/**
 * Wakes this process's outbox relays when outbox rows were committed, so a message goes out at
 * once instead of at the relay's next poll. The poll stays the safety net: rows written by other
 * replicas, or before a restart, are found by it. A wake-up finds nothing when the rows belong
 * to another relay's outbox (one process, several databases: tests) — one cheap round, no harm.
 */
const relays = new Set<() => void>();

/** Called (through `Queryable.afterCommit`) once outbox rows are committed. */
export function nudgeOutboxRelays(): void {
  for (const wake of relays) wake();
}

/** Registers a relay's wake-up; returns the function that removes it. */
export function onOutboxCommitted(wake: () => void): () => void {
  relays.add(wake);
  return () => relays.delete(wake);
}
