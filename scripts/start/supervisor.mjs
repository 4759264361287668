// How `npm start` keeps the mesh up: a service that exits when nobody asked it to is started again, after a
// back-off that doubles with each exit in a row (0.5 s, 1 s, 2 s … capped at 30 s) and starts over once the
// service has stayed up a while — so a crash in development is a restart, not an outage, and a service that
// cannot start at all is retried slowly instead of in a tight loop. Each restart is reported with its reason.

/** The wait before restart number `consecutive` (1-based) of a service that keeps exiting. */
export function restartDelay(consecutive, { initialMs = 500, maxMs = 30_000 } = {}) {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, consecutive - 1));
}

/**
 * Runs one service under supervision. `spawnChild()` starts the process and returns it; `report(text)` is told of
 * every unexpected exit and restart; `onStart(child, restarts)` sees each new process (to wire its output).
 * `stop(signal)` ends supervision: no more restarts, the running process is signalled, and it resolves once it exited.
 */
export function supervise({ name, spawnChild, report, onStart = () => {}, initialMs, maxMs, stableAfterMs = 30_000 }) {
  let child;
  let stopping = false;
  let restarts = 0;
  let consecutive = 0;
  let pending;

  function start() {
    const startedAt = Date.now();
    child = spawnChild();
    onStart(child, restarts);
    child.on("exit", (code, signal) => {
      if (stopping) return;
      if (Date.now() - startedAt >= stableAfterMs) consecutive = 0;
      consecutive += 1;
      restarts += 1;
      const delay = restartDelay(consecutive, { initialMs, maxMs });
      report(`${name} exited unexpectedly (${signal ?? `code ${code}`}); restart ${restarts} in ${(delay / 1000).toFixed(1)} s`);
      pending = setTimeout(() => {
        pending = undefined;
        if (!stopping) start();
      }, delay);
    });
  }
  start();

  return {
    get child() {
      return child;
    },
    get restarts() {
      return restarts;
    },
    stop(signal = "SIGTERM") {
      stopping = true;
      if (pending) clearTimeout(pending);
      pending = undefined;
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      return exited;
    },
  };
}
