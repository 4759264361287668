// bench/results/latest.json: every part's latest result, merged across partial runs.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));
const FILE = `${RESULTS_DIR}latest.json`;

/** The stored results, or an empty shell. */
export function readLatest() {
  if (!existsSync(FILE)) return { parts: {} };
  const data = JSON.parse(readFileSync(FILE, "utf8"));
  return { ...data, parts: data.parts ?? {} };
}

/** Writes the results (BigInt-free JSON, NaN as null). */
export function writeLatest(latest) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(FILE, `${JSON.stringify(latest, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
}
