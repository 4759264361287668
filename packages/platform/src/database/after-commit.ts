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

/**
 * `Queryable.afterCommit` of a transaction that collects its hooks in `committed` (run by
 * `runCommitted` after COMMIT), or of the database itself (no transaction: run at once).
 */
export function afterCommitHook(committed?: Array<() => void>): (fn: () => void) => void {
  return committed ? (fn) => void committed.push(fn) : (fn) => fn();
}
