import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

let stdout: (DestinationStream & { flush(): void }) | undefined;

/**
 * Standard output, buffered: one write per 4 KiB of log lines instead of one syscall per line,
 * which is most of the cost of logging every call. Flushed every 250 ms, and synchronously on
 * exit by pino.
 */
function bufferedStdout(): DestinationStream {
  if (!stdout) {
    const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    stdout = destination;
    setInterval(() => destination.flush(), 250).unref();
  }
  return stdout;
}

/** A JSON-lines pino logger named after the component; level from `LOG_LEVEL` (default info). */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level: level.toLowerCase(), base: { pid: process.pid } }, bufferedStdout());
}
