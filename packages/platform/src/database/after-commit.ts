/** Runs a committed transaction's `afterCommit` work; a failure there is its own, not the transaction's. */
export function runCommitted(committed: ReadonlyArray<() => void>): void {
  for (const fn of committed) {
    try {
      fn();
    } catch {
      // the transaction is committed whatever an after-commit hook does
    }
  }
}
