// `npm run chaos [-- --seed N] [--seconds S | --minutes M] [--clients C] [--json]`: a private mesh (its own ports,
// databases and AMQP names), a seeded workload through the gateway while a seeded fault schedule kills, freezes
// and cuts off its processes, then the checker. Prints the report (and with --json one JSON line last); exits 1
// when anything was lost, unexpected or duplicated. `--minutes` makes it a soak that also samples memory and
// outbox lag. Needs the build (npm run build), RabbitMQ with rabbitmqctl, and PostgreSQL as npm test does.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureCertificates } from "../certs.mjs";
import { check, outboxLag, stockLevels } from "./checker.mjs";
import { faultSchedule, runFaults } from "./faults.mjs";
import { createMesh } from "./mesh.mjs";
import { createMeshEnv } from "./mesh-env.mjs";
import { injectPoison, removeQueues } from "./poison.mjs";
import { seeded } from "./random.mjs";
import { formatReport, totals } from "./report.mjs";
import { runWorkload } from "./workload.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { values: args } = parseArgs({
  options: {
    seed: { type: "string" },
    seconds: { type: "string" },
    minutes: { type: "string" },
    clients: { type: "string", default: "6" },
    json: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});
const seed = Number(args.seed ?? Math.floor(Math.random() * 2 ** 31));
const durationMs = args.minutes ? Number(args.minutes) * 60_000 : Number(args.seconds ?? 60) * 1_000;
const soak = args.minutes !== undefined;
const clients = Number(args.clients);
const STEP_TIMEOUT_MS = 1_500;
const PENDING_TIMEOUT_MS = 5_000;
const amqpUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const say = (text) => console.log(text);
const logs = [];
const log = (name, text) => {
  if (args.verbose) process.stdout.write(text.replace(/^/gm, `${name.padEnd(12)}| `));
  else {
    logs.push(`${name}| ${text}`);
    if (logs.length > 2000) logs.splice(0, 1000);
  }
};

for (const main of ["services/order/dist/main.js", "gateway/dist/main.js"]) {
  try {
    readFileSync(join(root, main));
  } catch {
    console.error(`${main} is missing: run npm run build first`);
    process.exit(2);
  }
}

await ensureCertificates();
const random = seeded(seed);
const meshEnv = await createMeshEnv({
  label: "chaos",
  extra: {
    AMQP_URL: amqpUrl,
    LOG_LEVEL: "info",
    GATEWAY_WORKERS: "2",
    GATEWAY_RATE_LIMIT_BURST: "100000",
    GATEWAY_RATE_LIMIT_PER_SECOND: "100000",
    ORDER_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS),
    ORDER_PENDING_TIMEOUT_MS: String(PENDING_TIMEOUT_MS),
    ORDER_SAGA_LEASE_MS: "3000",
    ORDER_RECOVERY_INTERVAL_MS: "250",
    ORDER_MAX_RETRY_DELAY_MS: "1000",
    ORDER_WATCH_POLL_MS: "250",
    NOTIFICATION_RETRY_DELAYS_MS: "100,500",
    OTEL_TRACES_EXPORTER: "none",
  },
});
const mesh = createMesh({ root, meshEnv, log });
let exitCode = 1;
try {
  say(`[chaos] seed ${seed}: starting a private mesh (AMQP prefix ${meshEnv.amqpPrefix})`);
  await mesh.start();
  const initialStock = await stockLevels(meshEnv.databases.inventory);
  const skus = Object.keys(initialStock).sort().slice(0, 6);
  const poisonIds = await injectPoison(amqpUrl, meshEnv.amqpPrefix, 1);

  const startedAt = Date.now();
  const until = startedAt + durationMs;
  const schedule = faultSchedule(random, durationMs);
  say(`[chaos] ${Math.round(durationMs / 1000)} s of load with ${clients} clients and ${schedule.length} faults`);
  const samples = [];
  const sampler = soak ? sampleEvery(10_000, startedAt, samples) : undefined;
  const [records, faults] = await Promise.all([
    runWorkload({ gatewayUrl: mesh.gatewayUrl, clients, random: seeded(seed ^ 0x5eed), skus, until, hardStop: until + 30_000 }),
    runFaults({
      mesh,
      schedule,
      startedAt,
      durationMs,
      random,
      stepTimeoutMs: STEP_TIMEOUT_MS,
      pendingTimeoutMs: PENDING_TIMEOUT_MS,
      log: say,
    }),
  ]);
  sampler?.stop();
  say(`[chaos] load over; checking (every order must be final within ${PENDING_TIMEOUT_MS / 1000} s + recovery)`);
  const result = await check({ meshEnv, records, initialStock, poisonIds, settleMs: PENDING_TIMEOUT_MS + 30_000, amqpUrl });
  say("");
  say(formatReport({ seed, durationMs, clients, faults, result, samples }));
  const sum = totals(result.findings);
  if (args.json) say(JSON.stringify({ seed, ...sum, stats: { ...result.stats, stock: undefined }, faults: faults.map((f) => f.kind) }));
  exitCode = sum.lost + sum.unexpected + sum.duplicate === 0 ? 0 : 1;
} catch (error) {
  console.error(`[chaos] the run failed: ${error?.stack ?? error}\n--- last service output ---\n${logs.slice(-60).join("")}`);
  exitCode = 2;
} finally {
  await mesh.stop().catch(() => undefined);
  await meshEnv.drop().catch(() => undefined);
  await removeQueues(amqpUrl, meshEnv.amqpPrefix).catch(() => undefined);
}
process.exit(exitCode);

/** For a soak: every `everyMs`, each process's resident memory and the outbox's lag. */
function sampleEvery(everyMs, startedAt, samples) {
  const take = async () => {
    const rssMiB = {};
    for (const [name, proc] of Object.entries(mesh.processes)) {
      const pids = [proc.pid, ...(name === "gateway" ? proc.workerPids() : [])].filter(Boolean);
      rssMiB[name] = Math.round(pids.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024);
    }
    samples.push({ t: Math.round((Date.now() - startedAt) / 1000), rssMiB, outbox: await outboxLag(meshEnv.databases.order) });
  };
  const timer = setInterval(() => void take().catch(() => undefined), everyMs);
  void take().catch(() => undefined);
  return { stop: () => clearInterval(timer) };
}

function rssKiB(pid) {
  try {
    const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}
