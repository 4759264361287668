// Latency against concurrency as a hand-written SVG: one panel per load part, x = concurrency
// (log2), y = latency ms (log10), solid line p99 and dashed line p50 per series (medians of repeats).

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function panel(part, x0, y0, width, height) {
  const series = part.series.filter((s) => s.points.some((p) => Number.isFinite(p.p99Ms?.median)));
  const pad = { left: 56, right: 12, top: 28, bottom: 40 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const concurrencies = [...new Set(series.flatMap((s) => s.points.map((p) => p.concurrency)))].sort((a, b) => a - b);
  const values = series
    .flatMap((s) => s.points.flatMap((p) => [p.p50Ms?.median, p.p99Ms?.median]))
    .filter((v) => Number.isFinite(v) && v > 0);
  if (concurrencies.length === 0 || values.length === 0) return "";
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const cx0 = Math.log2(concurrencies[0]);
  const cx1 = Math.max(cx0 + 1, Math.log2(concurrencies.at(-1)));
  const X = (c) => x0 + pad.left + ((Math.log2(c) - cx0) / (cx1 - cx0)) * w;
  const Y = (ms) => y0 + pad.top + h - ((Math.log10(ms) - lo) / (hi - lo)) * h;
  const out = [`<text x="${x0 + pad.left}" y="${y0 + 18}" font-size="13" font-weight="bold">${esc(part.title)}</text>`];
  out.push(`<rect x="${x0 + pad.left}" y="${y0 + pad.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > hi) continue;
      const y = Y(v).toFixed(1);
      out.push(`<line x1="${x0 + pad.left}" x2="${x0 + pad.left + w}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      out.push(
        `<text x="${x0 + pad.left - 4}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${v >= 1 ? v : v.toPrecision(1)}</text>`,
      );
    }
  }
  for (const c of concurrencies) {
    const x = X(c).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${y0 + pad.top}" y2="${y0 + pad.top + h}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${y0 + pad.top + h + 14}" font-size="10" text-anchor="middle">${c}</text>`);
  }
  out.push(
    `<text x="${x0 + pad.left + w / 2}" y="${y0 + height - 6}" font-size="11" text-anchor="middle">concurrency (requests in flight)</text>`,
  );
  out.push(
    `<text transform="translate(${x0 + 14},${y0 + pad.top + h / 2}) rotate(-90)" font-size="11" text-anchor="middle">latency ms (log)</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    for (const [metric, dash] of [
      ["p99Ms", ""],
      ["p50Ms", ' stroke-dasharray="4 3"'],
    ]) {
      const pts = s.points
        .filter((p) => Number.isFinite(p[metric]?.median) && p[metric].median > 0)
        .map((p) => `${X(p.concurrency).toFixed(1)},${Y(p[metric].median).toFixed(1)}`);
      if (pts.length > 0) out.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const p of pts) out.push(`<circle cx="${p.split(",")[0]}" cy="${p.split(",")[1]}" r="2.5" fill="${color}"/>`);
    }
    const ly = y0 + pad.top + 12 + i * 14;
    out.push(`<line x1="${x0 + pad.left + 8}" x2="${x0 + pad.left + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${x0 + pad.left + 30}" y="${ly}" font-size="10" dominant-baseline="middle">${esc(s.label)}</text>`);
  });
  return out.join("\n");
}

/** The SVG text for every part that has latency series; undefined when there is none. */
export function latencyChart(parts, subtitle) {
  const panels = parts.filter((p) => Array.isArray(p?.series) && p.series.length > 0);
  if (panels.length === 0) return undefined;
  const width = 560;
  const height = 360;
  const cols = Math.min(2, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const total = { w: cols * width, h: rows * height + 40 };
  const body = panels.map((p, i) => panel(p, (i % cols) * width, 40 + Math.floor(i / cols) * height, width, height)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total.w}" height="${total.h}" viewBox="0 0 ${total.w} ${total.h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="12" y="20" font-size="14" font-weight="bold">Latency vs concurrency — solid p99, dashed p50 (median of repeats)</text>
<text x="12" y="35" font-size="10" fill="#555">${esc(subtitle)}</text>
${body}
</svg>
`;
}
