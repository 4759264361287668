import type { Logger } from "pino";

/** What `installProcessHandlers` does after logging; tests replace `exit`. */
export interface ProcessHandlerOptions {
  /** Ends the process; default `process.exit`. */
  exit?: (code: number) => void;
}

/**
 * Makes the last words of a crashing process a log line: an `uncaughtException` or an
 * `unhandledRejection` is logged at fatal with the error (event `process.uncaught_exception` /
 * `process.unhandled_rejection`), the log is flushed, and the process exits with code 1.
 *
 * An unhandled rejection exits too, on purpose: it is a promise whose failure nobody handled, so
 * whatever it was doing (a saga step, a relay round, a reply) is in an unknown state. Every
 * process here runs under a supervisor (`npm start`, Kubernetes, compose) that restarts it, and a
 * restart is where recovery is designed to happen (saga recovery, outbox relay, redelivery);
 * carrying on would hide the bug and the state it left behind. Node's own default is to crash as
 * well — but with a stack on stderr, not a JSON line that the log pipeline can alert on.
 */
export function installProcessHandlers(logger: Logger, options: ProcessHandlerOptions = {}): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let exiting = false;
  const die = (event: string, message: string) => (error: unknown) => {
    try {
      logger.fatal({ event, err: error instanceof Error ? error : { message: String(error) } }, message);
      logger.flush();
    } finally {
      if (!exiting) {
        exiting = true;
        exit(1);
      }
    }
  };
  process.on("uncaughtException", die("process.uncaught_exception", "uncaught exception; exiting"));
  process.on("unhandledRejection", die("process.unhandled_rejection", "unhandled promise rejection; exiting"));
}
