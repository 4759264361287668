// Renders bench/results/latest.json into bench/results/latest.md, bench/results/latency.svg and
// the results section of bench/README.md (between the bench:results markers).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { spread } from "../src/stats.mjs";
import { num, range, ratioRange } from "./format.mjs";
import { RESULTS_DIR } from "./results-file.mjs";
import { latencyChart } from "./svg-chart.mjs";

const ORDER = ["platform", "tls", "gateway", "e2e", "runtime", "messaging", "footprint"];
const README = fileURLToPath(new URL("../README.md", import.meta.url));
const ROOT_README = fileURLToPath(new URL("../../README.md", import.meta.url));
const START = "<!-- bench:results:start -->";
const END = "<!-- bench:results:end -->";

/** Ratios of paired repeats (round i of subject over round i of baseline). */
function pairedRatio(subject, baseline) {
  const a = subject?.runs ?? [];
  const b = baseline?.runs ?? [];
  const n = Math.min(a.length, b.length);
  const ratios = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) ratios.push(a[i] / b[i]);
  return spread(ratios);
}

function seriesTables(part) {
  const byId = Object.fromEntries(part.series.map((s) => [s.id, s]));
  const lines = [];
  for (const { subject, baseline } of part.comparisons ?? []) {
    const s = byId[subject];
    const b = byId[baseline];
    if (!s || !b) continue;
    const unit = s.unit ?? part.unit ?? "req/s";
    lines.push(`**${s.label}** vs baseline **${b.label}**`, "");
    lines.push(
      `| concurrency | ${unit} | baseline ${unit} | ${unit} ratio | p50 ms | baseline p50 ms | p99 ms | baseline p99 ms | p99 ratio | server CPU µs/req | baseline CPU µs/req |`,
    );
    lines.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const point of s.points) {
      const base = b.points.find((p) => p.concurrency === point.concurrency);
      if (!base) continue;
      lines.push(
        `| ${point.concurrency} | ${range(point.rps)} | ${range(base.rps)} | ${ratioRange(pairedRatio(point.rps, base.rps))} | ${range(point.p50Ms)} | ${range(base.p50Ms)} | ${range(point.p99Ms)} | ${range(base.p99Ms)} | ${ratioRange(pairedRatio(point.p99Ms, base.p99Ms))} | ${range(point.cpuUsPerRequest)} | ${range(base.cpuUsPerRequest)} |`,
      );
    }
    lines.push("");
  }
  return lines;
}

function extraTable(part) {
  if (!part.extra?.length) return [];
  const lines = [`| ${part.extraHeader.join(" | ")} |`, `| ${part.extraHeader.map(() => "---").join(" | ")} |`];
  for (const row of part.extra)
    lines.push(
      `| ${row.map((cell) => (typeof cell === "object" && cell !== null ? range(cell) : typeof cell === "number" ? num(cell) : String(cell))).join(" | ")} |`,
    );
  return [...lines, ""];
}

function pairTable(part) {
  if (!part.pairs?.length) return [];
  const lines = ["| measurement | value | baseline | baseline value | ratio |", "| --- | ---: | --- | ---: | ---: |"];
  for (const row of part.pairs) {
    lines.push(
      `| ${row.label} (${row.unit}) | ${range(row.subject)} | ${row.baselineLabel} | ${range(row.baseline)} | ${ratioRange(pairedRatio(row.subject, row.baseline))} |`,
    );
  }
  return [...lines, ""];
}

function footprintTables(part) {
  const lines = [];
  const modes = Object.keys(part.footprint ?? {});
  if (modes.length === 0) return lines;
  const names = Object.keys(part.footprint[modes[0]].rssMiB);
  lines.push(
    `| process | ${modes.map((m) => `idle RSS MiB (${m})`).join(" | ")} | ${modes.map((m) => `ready after s (${m})`).join(" | ")} |`,
  );
  lines.push(`| --- | ${modes.map(() => "---:").join(" | ")} | ${modes.map(() => "---:").join(" | ")} |`);
  for (const name of names) {
    const procs = part.footprint[modes[0]].processes?.[name];
    const label = procs > 1 ? `${name} (${procs} processes)` : name;
    lines.push(
      `| ${label} | ${modes.map((m) => range(part.footprint[m].rssMiB[name])).join(" | ")} | ${modes.map((m) => range(seconds(part.footprint[m].readyMs[name]))).join(" | ")} |`,
    );
  }
  lines.push(
    `| **whole mesh** | ${modes.map((m) => range(part.footprint[m].totalRssMiB)).join(" | ")} | ${modes.map((m) => `**${range(seconds(part.footprint[m].coldStartMs))}**`).join(" | ")} |`,
  );
  if (modes.includes("pglite") && modes.includes("postgres")) {
    lines.push(
      "",
      `Cold start ratio PGlite / PostgreSQL (medians): ${(part.footprint.pglite.coldStartMs.median / part.footprint.postgres.coldStartMs.median).toFixed(1)}×; idle RSS ratio ${(part.footprint.pglite.totalRssMiB.median / part.footprint.postgres.totalRssMiB.median).toFixed(1)}×.`,
    );
  }
  return [...lines, ""];
}

function seconds(s) {
  if (!s) return s;
  const f = (v) => (v === null || v === undefined ? v : v / 1000);
  return { min: f(s.min), median: f(s.median), max: f(s.max), runs: (s.runs ?? []).map(f) };
}

/**
 * The headline rows for the repository README: each comparison at its lowest and highest
 * concurrency, each messaging pair, and the cold start — the full tables stay in latest.md.
 */
function summaryTable(parts) {
  const lines = [
    "| part | measurement vs baseline | at | value | baseline | ratio (median, min–max) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const [id, part] of parts) {
    const byId = Object.fromEntries((part.series ?? []).map((s) => [s.id, s]));
    for (const { subject, baseline } of part.comparisons ?? []) {
      const s = byId[subject];
      const b = byId[baseline];
      if (!s || !b || s.points.length === 0) continue;
      const unit = s.unit ?? part.unit ?? "req/s";
      const ends = [...new Set([s.points[0], s.points[s.points.length - 1]])];
      for (const point of ends) {
        const base = b.points.find((p) => p.concurrency === point.concurrency);
        if (!base) continue;
        lines.push(
          `| ${id} | ${s.label} vs ${b.label} | c=${point.concurrency} | ${num(point.rps.median)} ${unit} | ${num(base.rps.median)} ${unit} | ${ratioRange(pairedRatio(point.rps, base.rps))} |`,
        );
      }
    }
    for (const row of part.pairs ?? []) {
      lines.push(
        `| ${id} | ${row.label} vs ${row.baselineLabel} | – | ${num(row.subject.median)} ${row.unit} | ${num(row.baseline.median)} ${row.unit} | ${ratioRange(pairedRatio(row.subject, row.baseline))} |`,
      );
    }
    const fp = part.footprint;
    if (fp?.postgres) {
      const pglite = fp.pglite ? `${num(fp.pglite.coldStartMs.median / 1000)} s (PGlite first start)` : "–";
      lines.push(
        `| ${id} | whole-mesh cold start to all SERVING, PostgreSQL vs PGlite | – | ${num(fp.postgres.coldStartMs.median / 1000)} s | ${pglite} | – |`,
      );
      const restart = fp["pglite restart"];
      if (restart)
        lines.push(`| ${id} | whole-mesh restart on existing PGlite data | – | ${num(restart.coldStartMs.median / 1000)} s | – | – |`);
      const rssPglite = [
        fp.pglite && `${num(fp.pglite.totalRssMiB.median)} MiB (PGlite first start)`,
        restart && `${num(restart.totalRssMiB.median)} MiB (PGlite restart)`,
      ]
        .filter(Boolean)
        .join(", ");
      lines.push(
        `| ${id} | idle RSS, whole mesh, PostgreSQL vs PGlite | – | ${num(fp.postgres.totalRssMiB.median)} MiB | ${rssPglite || "–"} | – |`,
      );
      const floor = fp["floor: Node + PGlite only"];
      if (restart && floor)
        lines.push(
          `| ${id} | idle RSS, whole mesh on PGlite (restart) vs its floor (the same processes: Node + PGlite only) | – | ${num(restart.totalRssMiB.median)} MiB | ${num(floor.totalRssMiB.median)} MiB | ${(restart.totalRssMiB.median / floor.totalRssMiB.median).toFixed(2)}× |`,
        );
    }
  }
  return lines;
}

/** Replaces the text between the bench:results markers of `file`, if it has them. */
function writeSection(file, section) {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, "utf8");
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b <= a) return false;
  writeFileSync(file, `${text.slice(0, a + START.length)}\n${section}\n${text.slice(b)}`);
  return true;
}

/** Writes latest.md, latency.svg and the README sections; returns the paths written. */
export function writeReport(latest) {
  // Known parts in ORDER, then any other part in latest.json (one registered in bench/run.mjs alone still shows).
  const ids = [...ORDER, ...Object.keys(latest.parts).filter((id) => !ORDER.includes(id))];
  const parts = ids.filter((id) => latest.parts[id]).map((id) => [id, latest.parts[id]]);
  const m = latest.machine ?? {};
  const lines = [
    "# Benchmark results",
    "",
    `Generated ${latest.generatedAt} by \`${latest.lastCommand}\` (full run: \`npm run bench\`).`,
    "",
    `Machine: nproc ${m.nproc}, ${m.cpu}, node ${m.node}, ${m.kernel}, ${String(m.h2load).split("\n")[0]}; load average when the last run began: ${(m.loadAverageAtStart ?? []).join(" ")} (other engineers' tests share these 2 cores — compare within a row, not across runs).`,
    "",
    "```",
    "$ free -g",
    m.freeG ?? "",
    "```",
    "",
    "Cells are `median (min–max)` over repeats; ratios are computed per interleaved repeat (measurement ÷ baseline from the same round) and summarised the same way. req/s ratio > 1 means faster than the baseline; p99 ratio > 1 means slower. Server CPU µs/req is the server process's user+system CPU per completed request (less sensitive to a busy machine than req/s).",
    "",
  ];
  for (const [id, part] of parts) {
    lines.push(`## ${part.title}`, "");
    lines.push(
      `Measured ${part.measuredAt} (${Math.round(part.durationSeconds)} s, load average ${part.machine?.loadAverageAtStart?.join(" ")} → ${part.machine?.loadAverageAtEnd?.join(" ")}), part \`${id}\`, command \`${part.command}\`.`,
      "",
    );
    if (part.method) lines.push(`Method: ${part.method}.`, "");
    if (part.series) lines.push(...seriesTables(part));
    lines.push(...extraTable(part), ...pairTable(part), ...footprintTables(part));
    if (part.notes?.length) lines.push(...part.notes.map((n) => `- ${n}`), "");
  }
  if (existsSync(`${RESULTS_DIR}profile.md`)) lines.push(readFileSync(`${RESULTS_DIR}profile.md`, "utf8").trim(), "");
  lines.push("![latency vs concurrency](latency.svg)", "");
  const md = lines.join("\n");
  const written = [];
  writeFileSync(`${RESULTS_DIR}latest.md`, md);
  written.push("bench/results/latest.md");
  const svg = latencyChart(
    parts.map(([, p]) => p),
    `${latest.generatedAt} · nproc ${m.nproc} · node ${m.node}`,
  );
  if (svg) {
    writeFileSync(`${RESULTS_DIR}latency.svg`, svg);
    written.push("bench/results/latency.svg");
  }
  const section = md.replace(/^# Benchmark results\n/, "").replace("](latency.svg)", "](results/latency.svg)");
  if (writeSection(README, section)) written.push("bench/README.md");
  const summary = [
    `Measured ${latest.generatedAt.slice(0, 10)} on ${m.nproc} cores (${m.cpu}), node ${m.node}, by \`${latest.lastCommand}\` (\`npm run bench\` runs every part); load average at the start ${(m.loadAverageAtStart ?? []).join(" ")}. Ratio > 1 = more per second than the baseline. Every table, p50/p99 and CPU per request: [bench/results/latest.md](bench/results/latest.md).`,
    "",
    ...summaryTable(parts),
    "",
    "![latency vs concurrency](bench/results/latency.svg)",
  ].join("\n");
  if (writeSection(ROOT_README, summary)) written.push("README.md");
  return written;
}
