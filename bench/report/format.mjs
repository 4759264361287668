// Number formatting for the Markdown report.

/** A number with sensible precision: 12,345 / 123 / 12.3 / 1.23 / 0.123; "–" when missing. */
export function num(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** "median (min–max)" of a spread. */
export function range(s) {
  if (!s) return "–";
  if (s.min === s.max) return num(s.median);
  return `${num(s.median)} (${num(s.min)}–${num(s.max)})`;
}

/** A ratio with two decimals and ×. */
export function ratio(value) {
  return value === null || value === undefined || !Number.isFinite(value) ? "–" : `${value.toFixed(2)}×`;
}

/** "median (min–max)" of a spread of ratios. */
export function ratioRange(s) {
  if (!s) return "–";
  if (s.min === s.max) return ratio(s.median);
  return `${ratio(s.median)} (${ratio(s.min)}–${ratio(s.max)})`;
}
