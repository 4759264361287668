// What `npm start` adds to one process's environment and node flags, shared with the footprint
// benchmark (bench/footprint/run.mjs) so that it measures the mesh as `npm start` runs it.

/**
 * glibc malloc arenas for every process, here and in the container image (the Dockerfile's runtime
 * stage sets the same MALLOC_ARENA_MAX; scripts/test/start-process-env.test.ts checks they agree).
 * glibc gives each thread that allocates its own arena, up to 8 per core: V8's platform workers and
 * libuv's pool each kept one, partly touched, for the life of the process. Two arenas (the main
 * thread's and one shared by the rest): whole mesh after a restart on PGlite (Node 24) ~725 -> ~690
 * MiB RSS; server CPU per order end to end within noise (bench/README.md, "Footprint").
 */
export const MALLOC_ARENA_MAX = "2";

/**
 * What `npm start` adds to one process's environment; what the caller's `env` already sets wins.
 * MALLOC_ARENA_MAX (above) for every process. The gateway runs as one process unless
 * GATEWAY_WORKERS says otherwise: on a laptop one process serves the storefront and the console
 * with room to spare, and the gateway's default (2 node:cluster workers and their primary: 3
 * processes, ~280 MiB) is meant for a deployment. One process is ~95 MiB and a second less CPU at
 * start.
 */
export function startProcessEnv(name, env = process.env) {
  const added = {};
  if (env.MALLOC_ARENA_MAX === undefined) added.MALLOC_ARENA_MAX = MALLOC_ARENA_MAX;
  if (name === "gateway" && env.GATEWAY_WORKERS === undefined) added.GATEWAY_WORKERS = "1";
  return added;
}

/**
 * Node flags for every process. V8's --optimize-for-size: a smaller young generation (1 MiB
 * semi-spaces instead of up to 16) and heap growth, earlier bytecode flushing; under `npm start` the
 * mesh idles most of the time, and the young generation alone had grown to 32 MiB in each process by
 * the time it was ready. --liftoff-only: PGlite's WebAssembly stays on V8's baseline compiler (see
 * packages/platform/src/database/pglite.ts, which sets it at run time too — but Node 24 ignores a
 * WebAssembly flag set at run time, so it is given here). Whole mesh after a restart on PGlite
 * (Node 20): ~770 -> ~630 MiB RSS; 1,000 PGlite transactions cost ~0.93 vs ~0.88 ms CPU each.
 * SHOP_NODE_FLAGS replaces the flags ("" for none).
 */
export function startNodeArgs(env = process.env) {
  const flags = env.SHOP_NODE_FLAGS ?? "--optimize-for-size --liftoff-only";
  return flags.split(/\s+/).filter(Boolean);
}
