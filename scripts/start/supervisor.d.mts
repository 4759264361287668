import type { ChildProcess } from "node:child_process";

/** The wait before restart number `consecutive` (1-based) of a service that keeps exiting. */
export declare function restartDelay(consecutive: number, options?: { initialMs?: number; maxMs?: number }): number;

/** One supervised service. */
export interface Supervised {
  readonly child: ChildProcess;
  readonly restarts: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs one service under supervision: restarts it with back-off whenever it exits unasked. */
export declare function supervise(options: {
  name: string;
  spawnChild: () => ChildProcess;
  report: (text: string) => void;
  onStart?: (child: ChildProcess, restarts: number) => void;
  initialMs?: number;
  maxMs?: number;
  stableAfterMs?: number;
}): Supervised;
