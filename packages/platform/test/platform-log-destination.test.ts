import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = new URL("../../../", import.meta.url).pathname;
const FIXTURE = new URL("./fixtures/log-lines.mjs", import.meta.url).pathname;

function startLogging(count: number, mode: "exit" | "stay" | "flush") {
  const child = spawn(process.execPath, [FIXTURE, String(count), mode], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stderr: string[] = [];
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  return { child, exited, stderr };
}

describe("the platform's stdout log destination (lines batched 16 KiB at a time)", () => {
  beforeAll(async () => {
    // The fixture runs the built package in its own process.
    await promisify(execFile)("npx", ["tsc", "-b", "packages/platform"], { cwd: ROOT, timeout: 120_000 });
  }, 120_000);

  it("writes every line, in order, when the process exits right after logging", async () => {
    const { child, exited } = startLogging(5_000, "exit");
    const lines: { i: number; msg: string; name: string }[] = [];
    const reader = createInterface({ input: child.stdout });
    reader.on("line", (line) => lines.push(JSON.parse(line) as { i: number; msg: string; name: string }));
    const read = new Promise((resolve) => reader.once("close", resolve));
    expect(await exited).toBe(0);
    await read;
    expect(lines).toHaveLength(5_000);
    expect(lines.every((line, index) => line.i === index && line.msg === "line" && line.name === "log-lines")).toBe(true);
  });

  it("writes a lone line on its flush timer while the process keeps running", async () => {
    // The process logs one line and stays alive: no 16 KiB batch fills and no exit flushes it, so
    // only the flush timer can deliver it (how soon is the bench's business, not this test's).
    const { child, exited } = startLogging(1, "stay");
    try {
      const first = await new Promise<string>((resolve) => {
        createInterface({ input: child.stdout }).once("line", resolve);
      });
      expect(JSON.parse(first)).toMatchObject({ i: 0, msg: "line" });
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("writes gathered lines on logger.flush(callback) and calls the callback", async () => {
    const { child, exited, stderr } = startLogging(3, "flush");
    try {
      const lines: string[] = [];
      createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
      await expect.poll(() => stderr.join(""), { timeout: 5_000 }).toContain("flushed");
      await expect.poll(() => lines.length, { timeout: 5_000 }).toBe(3);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("keeps the process alive when the reader of stdout goes away (EPIPE)", async () => {
    const { child, exited, stderr } = startLogging(100_000, "exit");
    child.stdout.destroy();
    expect(await exited).toBe(0);
    expect(stderr.join("")).toContain("logged");
  });
});
