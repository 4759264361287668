// Reading a V8 .cpuprofile (node --cpu-prof): self time per frame and per package.

/** Where a frame comes from: "node_modules/<pkg>", "shop:<workspace path>", "node:internal", or "(native)". */
export function origin(url) {
  if (!url) return "(native/V8)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith("node:")) return "node:internal";
  const shop = /\/work\/main\/([^/]+\/[^/]+)/.exec(url) ?? /\/(packages\/[^/]+|services\/[^/]+|gateway|bench)\//.exec(url);
  return shop ? shop[1] : url;
}

/**
 * Self-time summary of a profile, idle time left out of the shares: { totalMs (busy), idleMs, frames: [{ name, location, origin, selfMs, share }],
 * origins: [{ origin, selfMs, share }] }, both sorted by self time, descending.
 */
export function summarize(profile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = profile.timeDeltas ?? [];
  const selfUs = new Map();
  for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (dt[i] ?? 0));
  const frames = new Map();
  const origins = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    const cf = node.callFrame;
    if (cf.functionName === "(idle)") {
      idle += us / 1000;
      continue;
    }
    const name = cf.functionName || "(anonymous)";
    const file = cf.url ? cf.url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "") : "";
    const location = file ? `${file}:${cf.lineNumber + 1}` : "";
    const key = `${name}@${location}`;
    const entry = frames.get(key) ?? { name, location, origin: origin(cf.url), selfMs: 0 };
    entry.selfMs += us / 1000;
    frames.set(key, entry);
    const o = entry.origin;
    origins.set(o, (origins.get(o) ?? 0) + us / 1000);
    total += us / 1000;
  }
  const share = (ms) => ms / total;
  return {
    totalMs: total,
    idleMs: idle,
    frames: [...frames.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((f) => ({ ...f, share: share(f.selfMs) })),
    origins: [...origins.entries()]
      .map(([o, ms]) => ({ origin: o, selfMs: ms, share: share(ms) }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, 15),
  };
}
