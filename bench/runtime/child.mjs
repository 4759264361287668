// One bench part under whichever node runs this file: bench/runtime/run.mjs starts it as `<node binary> child.mjs
// <spec JSON>` once per binary and round, so every process the part spawns (servers, the mesh, load generators —
// all started with process.execPath) runs on that binary. Writes the part's result object to spec.out.
import { writeFileSync } from "node:fs";

const spec = JSON.parse(process.argv[2]);
const log = (message) => console.log(`  [node ${process.version}] ${message.trimStart()}`);
const RUNNERS = {
  platform: async (options) => (await import("../src/unary.mjs")).runUnary({ ...options, log }),
  e2e: async (options) => (await import("../e2e/run.mjs")).runEndToEnd({ ...options, log }),
};
const result = await RUNNERS[spec.part](spec.options);
writeFileSync(spec.out, JSON.stringify({ node: process.version, result }));
