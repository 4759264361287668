import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** A JSON-lines pino logger named after the component; level from `LOG_LEVEL` (default info). */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level: level.toLowerCase(), base: { pid: process.pid } });
}
