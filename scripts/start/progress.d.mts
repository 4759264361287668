/** What the progress display is fed and how it prints. */
export interface StartupProgress {
  step(name: string, text: string): void;
  ready(name: string): void;
  print(text: string): void;
  stop(): void;
}
/** A progress display for `names`, started now; feed it steps and readiness, print logs through it, stop it when done. */
export declare function startupProgress(
  names: string[],
  options?: { out?: { write(text: string): unknown; columns?: number; isTTY?: boolean }; tty?: boolean },
): StartupProgress;
