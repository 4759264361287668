import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createTestDatabase } from "../src/testing/postgres.js";
import { ServiceProcess } from "../src/testing/service-process.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const CRASHING = fileURLToPath(new URL("./fixtures/crashing-process.mjs", import.meta.url));
const CRASH_ON_SIGNAL = fileURLToPath(new URL("./fixtures/crash-on-signal.mjs", import.meta.url));

type LogLine = { level: number; event?: string; msg: string; err?: { message?: string; stack?: string } };

function jsonLines(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

async function run(mode: string): Promise<{ code: number | null; lines: LogLine[] }> {
  const child = spawn(process.execPath, [CRASHING, mode], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, lines: jsonLines(stdout) };
}

describe("installProcessHandlers, in a real child process", () => {
  it("logs an uncaught exception at fatal with its error and stack, flushed, and exits 1", async () => {
    const { code, lines } = await run("throw");
    expect(code).toBe(1);
    const fatal = lines.find((line) => line.level === 60);
    expect(fatal?.event).toBe("process.uncaught_exception");
    expect(fatal?.err?.message).toBe("boom: thrown in a callback");
    expect(fatal?.err?.stack).toContain("crashing-process.mjs");
    expect(lines[0]?.event).toBe("started"); // the batched lines before it are flushed too
  });

  it("logs an unhandled rejection at fatal and exits 1, rather than running on in an unknown state", async () => {
    const { code, lines } = await run("reject");
    expect(code).toBe(1);
    const fatal = lines.find((line) => line.level === 60);
    expect(fatal?.event).toBe("process.unhandled_rejection");
    expect(fatal?.err?.message).toBe("boom: a rejection nobody handled");
  });

  it("logs a rejection with a value that is not an Error", async () => {
    const { code, lines } = await run("reject-value");
    expect(code).toBe(1);
    expect(lines.find((line) => line.level === 60)?.err?.message).toBe("a bare string");
  });
});

describe("every process of the mesh installs them", () => {
  it("a real service process logs an uncaught exception at fatal and exits 1", async () => {
    const db = await createTestDatabase("process_handlers");
    const payment = new ServiceProcess("payment", {
      envPrefix: "PAYMENT",
      main: `${repoRoot}services/payment/dist/main.js`,
      cwd: repoRoot,
      env: { PAYMENT_DATABASE_URL: db.url, NODE_OPTIONS: `--import=${CRASH_ON_SIGNAL}` },
    });
    try {
      await payment.start();
      const code = await payment.crash("SIGUSR2");
      expect(code).toBe(1);
      const fatal = jsonLines(payment.output.join("")).find((line) => line.level === 60);
      expect(fatal?.event).toBe("process.uncaught_exception");
      expect(fatal?.err?.message).toBe("injected crash: uncaught in a service");
    } finally {
      await payment.stop();
      await db.drop();
    }
  }, 60_000);

  it("a gateway worker logs an uncaught exception at fatal and exits 1; its primary starts another", async () => {
    const gateway = new ServiceProcess("gateway", {
      envPrefix: "GATEWAY",
      main: `${repoRoot}gateway/dist/main.js`,
      cwd: repoRoot,
      env: {
        GATEWAY_WORKERS: "2",
        HOST: "127.0.0.1",
        INVENTORY_URL: "127.0.0.1:1",
        OTEL_TRACES_EXPORTER: "none",
        NODE_OPTIONS: `--import=${CRASH_ON_SIGNAL}`,
      },
    });
    try {
      await gateway.start();
      const primary = jsonLines(gateway.output.join("")).find((line) => line.msg === "gateway primary started") as LogLine & {
        pid: number;
      };
      const workers = readFileSync(`/proc/${primary.pid}/task/${primary.pid}/children`, "utf8").trim().split(/\s+/).map(Number);
      expect(workers).toHaveLength(2);
      process.kill(workers[0]!, "SIGUSR2");
      await expect
        .poll(() => jsonLines(gateway.output.join("")).find((line) => line.msg === "gateway worker exited; starting another"), {
          timeout: 20_000,
        })
        .toMatchObject({ code: 1, worker: workers[0] });
      const fatal = jsonLines(gateway.output.join("")).find((line) => line.level === 60) as LogLine & { pid: number };
      expect(fatal).toMatchObject({
        pid: workers[0],
        event: "process.uncaught_exception",
        err: { message: "injected crash: uncaught in a service" },
      });
      expect(await gateway.stop()).toBe(0);
    } finally {
      await gateway.kill9();
    }
  }, 60_000);

  it.each(["services/order", "services/inventory", "services/payment", "services/notification", "gateway"])(
    "%s/src/main.ts installs them right after making its logger (the gateway's primary and workers both run it)",
    (dir) => {
      const main = readFileSync(`${repoRoot}${dir}/src/main.ts`, "utf8");
      expect(main).toMatch(/const logger = createLogger\([^\n]*\);\ninstallProcessHandlers\(logger\);/);
    },
  );
});
