// The mesh under test: each service its own process, started as `npm start` starts it, on the private ports,
// databases and AMQP prefix of scripts/chaos/mesh-env.mjs — with handles the fault schedule needs: kill -9 and
// start again on the same ports, freeze (SIGSTOP) and thaw, the gateway's worker pids.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";

const MAINS = {
  inventory: "services/inventory/dist/main.js",
  payment: "services/payment/dist/main.js",
  notification: "services/notification/dist/main.js",
  order: "services/order/dist/main.js",
  gateway: "gateway/dist/main.js",
};

/** One service process; `start()` resolves once its /readyz answers 200. */
export class MeshProcess {
  constructor(name, { root, env, adminPort, log }) {
    this.name = name;
    this.root = root;
    this.env = env;
    this.adminPort = adminPort;
    this.log = log;
    this.child = undefined;
    this.starts = 0;
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(timeoutMs = 120_000) {
    this.starts += 1;
    const child = spawn(process.execPath, [join(this.root, MAINS[this.name])], {
      cwd: this.root,
      env: { ...process.env, ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) stream.on("data", (chunk) => this.log(this.name, chunk.toString()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.name} exited before it was ready`);
      if (await this.ready()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.name} was not ready within ${timeoutMs} ms`);
  }

  async ready() {
    try {
      return (await fetch(`http://127.0.0.1:${this.adminPort}/readyz`, { signal: AbortSignal.timeout(2000) })).ok;
    } catch {
      return false;
    }
  }

  async kill9() {
    if (!this.running) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGKILL");
    await exited;
  }

  signal(signal) {
    if (this.running) this.child.kill(signal);
  }

  /** The gateway's node:cluster workers (its child processes). */
  workerPids() {
    if (!this.running) return [];
    try {
      return execFileSync("ps", ["-o", "pid=", "--ppid", String(this.pid)], { encoding: "utf8" })
        .split("\n")
        .map((line) => Number(line.trim()))
        .filter((pid) => pid > 0);
    } catch {
      return [];
    }
  }

  async stop() {
    if (!this.running) return;
    const exited = once(this.child, "exit");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 15_000);
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    await exited;
    clearTimeout(timer);
  }
}

/** The five processes, dependencies first; `start()` brings them all up, `stop()` down. */
export function createMesh({ root, meshEnv, log }) {
  const processes = Object.fromEntries(
    Object.keys(MAINS).map((name) => [
      name,
      new MeshProcess(name, { root, env: meshEnv.env, adminPort: meshEnv.ports[name].adminPort, log }),
    ]),
  );
  return {
    processes,
    gatewayUrl: `http://127.0.0.1:${meshEnv.ports.gateway.port}`,
    async start() {
      await Promise.all(["inventory", "payment", "notification"].map((name) => processes[name].start()));
      await processes.order.start();
      await processes.gateway.start();
    },
    async stop() {
      await processes.gateway.stop();
      await Promise.all(["order", "inventory", "payment", "notification"].map((name) => processes[name].stop()));
    },
  };
}
