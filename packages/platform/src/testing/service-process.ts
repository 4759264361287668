import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

/** How to run one process of the mesh. */
export interface ServiceProcessOptions {
  /** The prefix of its `<NAME>_PORT` / `<NAME>_ADMIN_PORT` variables (e.g. "ORDER", "GATEWAY"). */
  envPrefix: string;
  /** Absolute path of its entry point (e.g. services/order/dist/main.js). */
  main: string;
  /** Working directory (the repository root). */
  cwd: string;
  /** Added to the test process's environment. */
  env?: Record<string, string>;
  /** How long start() waits for listening and /readyz (default 60 s). */
  readyTimeoutMs?: number;
}

/**
 * One service running as its own process, as `npm start` runs it. The first start binds port 0
 * for gRPC and admin — no port is guessed, so parallel test files never collide — and learns the
 * ports from the process's own `"event":"listening"` log line (`port`, `adminPort`); a restart
 * reuses them. Every line it prints is kept in `output` for failure messages.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  readonly output: string[] = [];
  port = 0;
  adminPort = 0;

  constructor(
    readonly name: string,
    private readonly options: ServiceProcessOptions,
  ) {}

  /** `127.0.0.1:<port>`, the address a gRPC client dials. */
  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://${this.target}`;
  }

  /** Whether the process was started and has not exited. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last `chars` characters it printed. */
  recentOutput(chars = 4000): string {
    return this.output.join("").slice(-chars);
  }

  /** Starts the process and waits until it listens and its /readyz answers 200. */
  async start(): Promise<void> {
    const { envPrefix, main, cwd, env = {}, readyTimeoutMs = 60_000 } = this.options;
    const child = spawn(process.execPath, [main], {
      cwd,
      env: {
        ...process.env,
        LOG_LEVEL: "info",
        ...env,
        [`${envPrefix}_PORT`]: `${this.port}`,
        [`${envPrefix}_ADMIN_PORT`]: `${this.adminPort}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stderr?.on("data", (chunk: Buffer) => this.output.push(chunk.toString()));
    const listening = new Promise<void>((resolve) => {
      let buffered = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        this.output.push(chunk.toString());
        const lines = (buffered + chunk.toString()).split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.includes('"event":"listening"')) continue;
          const event = JSON.parse(line) as { port: number; adminPort: number };
          this.port = event.port;
          this.adminPort = event.adminPort;
          resolve();
        }
      });
    });
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code, signal) =>
        reject(new Error(`${this.name} exited with ${code ?? signal} before it was ready:\n${this.recentOutput()}`)),
      ),
    );
    exited.catch(() => {});
    const deadline = Date.now() + readyTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not listen within ${readyTimeoutMs} ms:\n${this.recentOutput()}`)),
        readyTimeoutMs,
      );
    });
    try {
      await Promise.race([listening, exited, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    while (Date.now() < deadline) {
      if (child.exitCode !== null)
        throw new Error(`${this.name} exited with ${child.exitCode} before it was ready:\n${this.recentOutput()}`);
      const ready = await fetch(`http://127.0.0.1:${this.adminPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} was not ready within ${readyTimeoutMs} ms:\n${this.recentOutput()}`);
  }

  /** Kills the process without warning, as a crash would. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGKILL");
    await once(child, "exit");
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process: calls to it hang meanwhile. */
  signal(signal: "SIGSTOP" | "SIGCONT"): void {
    this.child?.kill(signal);
  }

  /** Sends `signal` (one the process was primed to crash on) and resolves with its exit code. */
  async crash(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exit = once(child, "exit") as Promise<[number | null]>;
    child.kill(signal);
    const [code] = await exit;
    return code;
  }

  /** Stops the process gracefully (SIGTERM; SIGKILL after `killAfterMs`) and resolves with its exit code. */
  async stop(killAfterMs = 15_000): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exit = once(child, "exit") as Promise<[number | null]>;
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.kill("SIGCONT");
    child.kill("SIGTERM");
    const [code] = await exit;
    clearTimeout(timer);
    return code;
  }
}
