// Spawning benchmark targets as their own processes and reading their resource use from /proc.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";

/**
 * Starts `node <script> ...args` and resolves once it prints a JSON line with a `port` field on
 * stderr (the convention of bench/platform/server.mjs and bench/src/connect-server.mjs). Its
 * stdout — the servers' JSON call logs — goes to /dev/null: formatted and written as in
 * production, without a reader in this process competing for the 2 cores.
 */
export async function startPortServer(script, args = [], env = {}) {
  const child = spawn(process.execPath, [...(env.NODE_ARGS ?? []), script, ...args], {
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn", ...env, NODE_ARGS: undefined },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const name = [script.split("/").pop(), ...args].join(" ");
  const port = await new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`${name} exited with ${code} before listening`));
    child.once("exit", onExit);
    const lines = createInterface({ input: child.stderr });
    lines.on("line", (line) => {
      if (!line.startsWith('{"port"')) return void process.stderr.write(`[${name}] ${line}\n`);
      child.off("exit", onExit);
      resolve(JSON.parse(line).port);
    });
  });
  return { child, port, stop: () => stopChild(child) };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export function stopChild(child, graceMs = 10_000) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * A process's /proc/<pid>/stat: its command name and the fields after it (state, ppid, … utime at
 * 11, stime 12, cutime 13, cstime 14, in 100 Hz clock ticks). Throws when the process is gone.
 */
function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const end = stat.lastIndexOf(")");
  return { command: stat.slice(stat.indexOf("(") + 1, end), fields: stat.slice(end + 2).split(" ") };
}

/** CPU seconds (user + system) a process has used so far (Linux, 100 Hz clock ticks). */
export function cpuSeconds(pid) {
  try {
    const { fields } = procStat(pid);
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Resident set size of one process in MiB (VmRSS). */
export function rssMiB(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

/** Pids of a process and all its descendants (e.g. a node:cluster primary and its workers). */
export function processTree(pid) {
  const result = [pid];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    for (const child of children) result.push(...processTree(child));
  } catch {
    // gone
  }
  return result;
}

/** Summed RSS (MiB) of a process and its descendants. */
export function treeRssMiB(pid) {
  return processTree(pid).reduce((sum, p) => sum + (rssMiB(p) || 0), 0);
}

/**
 * CPU seconds used so far by every process whose command name is one of `commands` (e.g.
 * "postgres" for the server and all its backends, "beam.smp" for RabbitMQ), summed per name:
 * the live ones' own time, plus what the topmost one of each name has collected from children it
 * reaped — so a backend that exits between two readings (a pool closing an idle connection) keeps
 * counting, and readings only grow.
 */
export function cpuSecondsByCommand(commands) {
  const totals = Object.fromEntries(commands.map((command) => [command, 0]));
  const processes = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { command, fields } = procStat(entry);
      if (command in totals) processes.push({ pid: Number(entry), command, ppid: Number(fields[1]), fields });
    } catch {
      // gone meanwhile
    }
  }
  const commandOf = new Map(processes.map((p) => [p.pid, p.command]));
  for (const { command, ppid, fields } of processes) {
    totals[command] += (Number(fields[11]) + Number(fields[12])) / 100;
    if (commandOf.get(ppid) !== command) totals[command] += (Number(fields[13]) + Number(fields[14])) / 100;
  }
  return totals;
}
