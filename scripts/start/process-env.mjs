// What `npm start` adds to one process's environment and node flags, shared with the footprint
// benchmark (bench/footprint/run.mjs) so that it measures the mesh as `npm start` runs it.

/**
 * The gateway runs as one process unless GATEWAY_WORKERS says otherwise: on a laptop one process
 * serves the storefront and the console with room to spare, and the gateway's default (2
 * node:cluster workers and their primary: 3 processes, ~280 MiB) is meant for a deployment. One
 * process is ~95 MiB and a second less CPU at start. A caller's own GATEWAY_WORKERS wins.
 */
export function startProcessEnv(name, env = process.env) {
  if (name === "gateway" && env.GATEWAY_WORKERS === undefined) return { GATEWAY_WORKERS: "1" };
  return {};
}

/**
 * Node flags for every process: V8's --optimize-for-size (smaller young generation — 1 MiB
 * semi-spaces instead of up to 16 — and heap growth, earlier bytecode flushing). Under `npm start`
 * the mesh idles most of the time; the young generation alone had grown to 32 MiB in each process
 * by the time it was ready. Whole mesh after a restart on PGlite: ~770 -> ~640 MiB RSS; 1,000 PGlite
 * transactions cost ~0.93 vs ~0.88 ms CPU each. SHOP_NODE_FLAGS replaces the flags ("" for none).
 */
export function startNodeArgs(env = process.env) {
  const flags = env.SHOP_NODE_FLAGS ?? "--optimize-for-size";
  return flags.split(/\s+/).filter(Boolean);
}
