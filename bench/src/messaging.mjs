// Part 4: runs bench/messaging/run.mjs (owned by the messaging engineer) as it is, `repeats` times,
// and turns its printed rates into measurement/baseline pairs.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { spread } from "./stats.mjs";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../messaging/run.mjs", import.meta.url));

/** The rates in one run's output, keyed by "<side> <what>", e.g. "bare amqplib publish+confirm". */
export function parseMessagingOutput(stdout) {
  const rates = {};
  for (const line of stdout.split("\n")) {
    const found = /^\s+(bare amqplib|pipeline|floor)\s+(.+?)\s+([\d,]+) (?:msg|cmd)\/s/.exec(line);
    if (found) rates[`${found[1]} ${found[2].trim()}`] = Number(found[3].replace(/,/g, ""));
  }
  return rates;
}

const PAIRS = [
  [
    "pipeline outbox -> relay -> broker ack (rows marked)",
    "bare amqplib publish+confirm",
    "outbox → relay → broker ack",
    "bare publish + confirm",
  ],
  [
    "pipeline outbox -> relay -> broker -> consumer -> dedupe+commit -> ack",
    "bare amqplib publish -> consume+ack",
    "outbox → relay → broker → consumer → dedupe + commit → ack",
    "bare publish → consume + ack",
  ],
  ["pipeline outbox enqueue (tx)", "bare amqplib publish+confirm", "outbox enqueue (one transaction each)", "bare publish + confirm"],
  // The same rows on PGlite in a data directory on disk (as `npm start` runs it).
  [
    "pipeline pglite-disk: outbox -> relay -> broker ack (rows marked)",
    "bare amqplib publish+confirm",
    "PGlite on disk: outbox → relay → broker ack",
    "bare publish + confirm",
  ],
  [
    "pipeline pglite-disk: outbox -> relay -> broker -> consumer -> dedupe+commit -> ack",
    "bare amqplib publish -> consume+ack",
    "PGlite on disk: outbox → relay → broker → consumer → dedupe + commit → ack",
    "bare publish → consume + ack",
  ],
  [
    "pipeline pglite-disk: outbox enqueue (tx)",
    "bare amqplib publish+confirm",
    "PGlite on disk: outbox enqueue (one transaction each)",
    "bare publish + confirm",
  ],
  // The same rows with both databases on PostgreSQL (bench/messaging prints them after PGlite's).
  [
    "pipeline postgres: outbox -> relay -> broker ack (rows marked)",
    "bare amqplib publish+confirm",
    "PostgreSQL: outbox → relay → broker ack",
    "bare publish + confirm",
  ],
  [
    "pipeline postgres: outbox -> relay -> broker -> consumer -> dedupe+commit -> ack",
    "bare amqplib publish -> consume+ack",
    "PostgreSQL: outbox → relay → broker → consumer → dedupe + commit → ack",
    "bare publish → consume + ack",
  ],
  [
    "pipeline postgres: outbox enqueue (tx)",
    "bare amqplib publish+confirm",
    "PostgreSQL: outbox enqueue (one transaction each)",
    "bare publish + confirm",
  ],
  // The pipeline's floor on PostgreSQL (bare pg + amqplib, the same rows, statements and messages):
  // against the bare broker, and the pipeline against it.
  [
    "floor postgres: outbox -> relay -> broker -> consumer -> dedupe+commit -> ack",
    "bare amqplib publish -> consume+ack",
    "floor (bare pg + amqplib), PostgreSQL: outbox → relay → broker → consumer → dedupe → ack",
    "bare publish → consume + ack",
  ],
  [
    "pipeline postgres: outbox -> relay -> broker -> consumer -> dedupe+commit -> ack",
    "floor postgres: outbox -> relay -> broker -> consumer -> dedupe+commit -> ack",
    "PostgreSQL: the pipeline vs its floor",
    "floor (bare pg + amqplib)",
  ],
];

/** Runs part 4. BENCH_MESSAGING_N commands per run (default 2000; bench/messaging's own default is 5000). */
export async function runMessaging({ repeats = 1, log = console.log }) {
  const n = process.env.BENCH_MESSAGING_N ?? process.env.BENCH_N ?? "2000";
  const runs = [];
  let header = "";
  for (let i = 0; i < repeats; i++) {
    const { stdout } = await run(process.execPath, [SCRIPT], {
      env: { ...process.env, BENCH_N: n, LOG_LEVEL: "error" },
      maxBuffer: 16 << 20,
      timeout: 600_000,
    });
    const rates = parseMessagingOutput(stdout);
    header = stdout.split("\n").find((l) => l.startsWith("messaging throughput")) ?? header;
    if (Object.keys(rates).length === 0) throw new Error(`no rates in bench/messaging output:\n${stdout.slice(-2000)}`);
    log(`  messaging: run ${i + 1}/${repeats} ${JSON.stringify(rates)}`);
    runs.push(rates);
  }
  const known = PAIRS.filter(([a, b]) => a in runs[0] && b in runs[0]);
  return {
    title: "Messaging: outbox → RabbitMQ → consumer vs bare amqplib",
    method: `\`node bench/messaging/run.mjs\` (${header.replace(/^messaging throughput,\s*/, "")}; relay and producer in one thread, each consumer — the baseline's too — in a worker thread of its own, as the mesh runs them in two processes; CPU counts both threads; outbox and deliveries on PGlite in memory, on PGlite in a data directory on disk, then on PostgreSQL; floor = the same on PostgreSQL with bare pg and amqplib: the relay's one mark-and-claim statement a round and confirmed publishes, the consumer's one INSERT and one \`multiple\` ack per prefetch window — no platform or notification code), ${repeats} run(s); see bench/messaging/README.md`,
    pairs: known.map(([subject, baseline, label, baselineLabel]) => ({
      label,
      unit: "commands/s",
      subject: spread(runs.map((r) => r[subject])),
      baseline: spread(runs.map((r) => r[baseline])),
      baselineLabel,
    })),
    raw: runs,
  };
}
