// What `npm start` adds to one process's environment, shared with the footprint benchmark
// (bench/footprint/run.mjs) so that it measures the mesh as `npm start` runs it.

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
