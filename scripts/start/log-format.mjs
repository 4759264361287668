// How a service's log line reaches the person who ran `npm start`: on a terminal, pino-pretty's one-line human form
// in colour; piped to a file or a program, the JSON line exactly as the service wrote it, since that is what machines
// read. Either way `npm start` puts the service's prefix before it.
import { prettyFactory } from "pino-pretty";

/** A function from one output line of `service` to the text to print: pretty on a terminal, the line itself otherwise. */
export function logLineFormatter(service, { pretty }) {
  if (!pretty) return (line) => line;
  const prettify = prettyFactory({
    colorize: true,
    singleLine: true, // one line per record, so the prefix stays in front of everything a service says
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
  });
  return (line) => {
    const record = parseRecord(line);
    if (!record) return line; // a stack trace or a Node warning: as it came
    if (record.name === service) delete record.name; // the prefix already says it
    return prettify(record).replace(/\r?\n$/, "");
  };
}

/** The pino record in a line, or undefined when the line is not one. */
export function parseRecord(line) {
  if (!line.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(line);
    return record !== null && typeof record === "object" && "level" in record ? record : undefined;
  } catch {
    return undefined;
  }
}
