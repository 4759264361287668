import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { logLineFormatter } from "../start/log-format.mjs";
import { startupProgress } from "../start/progress.mjs";

const record = (fields: Record<string, unknown>) => JSON.stringify({ level: 30, time: 0, pid: 7, name: "inventory", ...fields });

describe("npm start's log lines", () => {
  it("passes the JSON line through untouched when not on a terminal", () => {
    const line = record({ event: "ready", msg: "all dependencies ready: SERVING" });
    expect(logLineFormatter("inventory", { pretty: false })(line)).toBe(line);
  });

  it("prints one human line on a terminal, without the pid or the name the prefix already shows", () => {
    const text = logLineFormatter("inventory", { pretty: true })(record({ event: "ready", msg: "all dependencies ready: SERVING" }));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI colour codes are what it strips
    const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: all dependencies ready: SERVING \{"event":"ready"\}$/);
    expect(text).toContain("\x1b["); // in colour
  });

  it("leaves a line that is not a log record (a stack trace) as it came", () => {
    expect(logLineFormatter("inventory", { pretty: true })("    at main (file:///x.js:1:1)")).toBe("    at main (file:///x.js:1:1)");
  });
});

describe("npm start's progress when stdout is not a terminal", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("prints each service's latest step with its seconds, one line per change, at most once a second", () => {
    const written: string[] = [];
    const progress = startupProgress(["inventory", "gateway"], { out: { write: (text: string) => written.push(text) }, tty: false });
    expect(written).toEqual(["[start] inventory    0 s  starting\n", "[start] gateway      0 s  starting\n"]);
    written.length = 0;

    progress.step("inventory", "opening the database");
    progress.step("inventory", "initialising the embedded database (first start: this takes a while)");
    vi.advanceTimersByTime(1000);
    vi.advanceTimersByTime(5000); // nothing changed: nothing printed
    progress.ready("gateway");
    vi.advanceTimersByTime(1000);
    progress.stop();
    expect(written).toEqual([
      "[start] inventory    1 s  initialising the embedded database (first start: this takes a while)\n",
      "[start] gateway    ready after 6 s\n",
    ]);
  });
});
