// The run's summary for a person: the seed (to run it again), the faults injected, the orders' outcomes, the
// checker's findings per check and category (lost / unexpected / duplicate), stock per SKU, and for a soak the
// memory and outbox lag sampled over time.

const CATEGORIES = ["lost", "unexpected", "duplicate"];
const CHECKS = [
  "orders placed by a client",
  "one order per request id",
  "orders final in time",
  "cancellations",
  "WatchOrder streams",
  "payments",
  "stock",
  "notifications",
  "outbox drained",
  "notifications delivered",
  "dead letters",
];

/** Counts per category: { lost, unexpected, duplicate }. */
export function totals(findings) {
  return Object.fromEntries(CATEGORIES.map((category) => [category, findings.filter((f) => f.category === category).length]));
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The report as text. */
export function formatReport({ seed, durationMs, clients, faults, result, samples }) {
  const { findings, stats } = result;
  const sum = totals(findings);
  const out = [];
  out.push(
    `chaos run: seed ${seed}, ${Math.round(durationMs / 1000)} s of load, ${clients} clients   (again: npm run chaos -- --seed ${seed})`,
  );
  const kinds = new Map();
  for (const fault of faults) kinds.set(fault.kind, (kinds.get(fault.kind) ?? 0) + 1);
  out.push(`faults: ${[...kinds].map(([kind, n]) => `${kind} x${n}`).join(", ")}`);
  out.push(
    `orders: ${stats.attempts} attempted, ${stats.acknowledged} acknowledged, ${stats.orders} in the database — ` +
      `${stats.confirmed} CONFIRMED, ${stats.rejected} REJECTED, ${stats.cancelled} CANCELLED, ${stats.pending} unfinished; ` +
      `${stats.clientRetries} client retries; ${stats.watches} WatchOrder streams (${stats.watchesSawFinal} saw a final status); ` +
      `${stats.notifications} notifications; ${stats.deadLetters} dead letter(s)`,
  );
  out.push("");
  out.push(
    table(
      ["check", ...CATEGORIES],
      [
        ...CHECKS.map((name) => [name, ...CATEGORIES.map((c) => findings.filter((f) => f.check === name && f.category === c).length)]),
        ["total", ...CATEGORIES.map((c) => sum[c])],
      ],
    ),
  );
  out.push("");
  out.push(
    table(
      ["sku", "initial", "available", "held", "sold", "restocked", "balance"],
      stats.stock.map((s) => [
        s.sku,
        s.initial,
        s.available,
        s.held,
        s.sold,
        s.restocked,
        s.available + s.held + s.sold - s.restocked - s.initial,
      ]),
    ),
  );
  if (findings.length > 0) {
    out.push("");
    for (const f of findings.slice(0, 50)) out.push(`${f.category.padEnd(10)} ${f.check}: ${f.detail}`);
    if (findings.length > 50) out.push(`… and ${findings.length - 50} more`);
  }
  if (samples.length > 0) {
    out.push("");
    const names = Object.keys(samples[0].rssMiB);
    out.push(
      table(
        ["t (s)", ...names.map((n) => `${n} MiB`), "outbox rows", "oldest (s)"],
        samples.map((s) => [s.t, ...names.map((n) => s.rssMiB[n] ?? "-"), s.outbox.unpublished, s.outbox.oldestSeconds.toFixed(1)]),
      ),
    );
  }
  out.push("");
  out.push(sum.lost + sum.unexpected + sum.duplicate === 0 ? "OK: nothing lost, unexpected or duplicated" : "FAILED");
  return out.join("\n");
}
