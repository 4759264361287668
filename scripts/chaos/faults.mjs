// The fault schedule: from the seed, a list of faults at times within the run — each service killed with SIGKILL
// and started again, a gateway worker killed (its primary forks another), payment and inventory frozen with
// SIGSTOP past the saga's step deadline and thawed, the broker closing the order and notification services'
// connections — every kind at least once, in a seeded order, then more while the run lasts.
import { execFile } from "node:child_process";
import { hostname } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const FAULT_KINDS = [
  "kill inventory",
  "kill payment",
  "kill notification",
  "kill order",
  "kill gateway worker",
  "freeze payment",
  "freeze inventory",
  "close broker connections",
];

/** The schedule: `{ at, kind }` (ms from the start), every kind once in a seeded order, then random ones. */
export function faultSchedule(random, durationMs) {
  const kinds = [...FAULT_KINDS];
  for (let i = kinds.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  const schedule = [];
  let at = 2_000;
  const gap = Math.max(1_000, Math.min(5_000, (durationMs - 4_000) / (kinds.length + 1)));
  for (let i = 0; at < durationMs - 3_000; i += 1) {
    schedule.push({ at: Math.round(at), kind: i < kinds.length ? kinds[i] : random.pick(FAULT_KINDS) });
    at += gap * (0.75 + random() / 2);
  }
  return schedule;
}

/**
 * Runs the schedule against `mesh` from `startedAt`; each fault ends (process back and ready, thawed) before
 * the next starts. A freeze outlasts `stepTimeoutMs` (the saga's step deadline), often `pendingTimeoutMs` too.
 * Resolves to what was done.
 */
export async function runFaults({ mesh, schedule, startedAt, durationMs, random, stepTimeoutMs, pendingTimeoutMs, log }) {
  const done = [];
  for (const [i, fault] of schedule.entries()) {
    // Every kind once (the first round) whatever the time; further faults only while the load lasts.
    if (i >= FAULT_KINDS.length && Date.now() > startedAt + durationMs) break;
    const wait = startedAt + fault.at - Date.now();
    if (wait > 0) await sleep(wait);
    const began = Date.now();
    const detail = await inject(fault.kind);
    done.push({ ...fault, detail, tookMs: Date.now() - began });
    log(`[chaos] ${((began - startedAt) / 1000).toFixed(1).padStart(5)} s  ${fault.kind}${detail ? ` (${detail})` : ""}`);
  }
  return done;

  async function inject(kind) {
    const [verb, name] = kind.split(" ");
    const processes = mesh.processes;
    if (kind === "kill gateway worker") {
      const workers = processes.gateway.workerPids();
      if (workers.length === 0) return "no worker found";
      const pid = random.pick(workers);
      process.kill(pid, "SIGKILL");
      // The primary forks a replacement; wait for it so the next fault finds the gateway whole.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const now = processes.gateway.workerPids();
        if (!now.includes(pid) && now.length >= workers.length) break;
        await sleep(100);
      }
      return `pid ${pid}`;
    }
    if (verb === "kill") {
      await processes[name].kill9();
      await sleep(random.int(200, 1_500));
      await processes[name].start();
      return `restarted, start ${processes[name].starts}`;
    }
    if (verb === "freeze") {
      // Past the step deadline always, and often past the pending timeout too: orders caught mid-step are then
      // compensated while the frozen call is still to land (a late authorization must be voided by its key).
      const frozenMs = random.int(stepTimeoutMs * 2, pendingTimeoutMs + stepTimeoutMs * 2);
      processes[name].signal("SIGSTOP");
      await sleep(frozenMs);
      processes[name].signal("SIGCONT");
      return `${frozenMs} ms`;
    }
    if (kind === "close broker connections") {
      const pids = [processes.order.pid, processes.notification.pid].filter(Boolean);
      return `${await closeConnectionsOf(pids)} closed`;
    }
    throw new Error(`unknown fault ${kind}`);
  }
}

/** Closes, from the broker's side, the AMQP connections the given processes opened (named `<service>@<host>:<pid>`). */
async function closeConnectionsOf(pids) {
  const { stdout } = await run("rabbitmqctl", ["-q", "--no-table-headers", "list_connections", "pid", "client_properties"]);
  const host = hostname();
  const targets = stdout
    .split("\n")
    .filter((line) => line.startsWith("<") && pids.some((pid) => line.includes(`@${host}:${pid}"`)))
    .map((line) => line.slice(0, line.indexOf("\t")));
  for (const pid of targets) await run("rabbitmqctl", ["-q", "close_connection", pid, "chaos"]).catch(() => undefined);
  return targets.length;
}
