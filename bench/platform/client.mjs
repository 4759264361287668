// The client side of a call: CPU of the calling process per GetProduct call, the platform's
// createClient against a bare @grpc/grpc-js client, both calling the same bare grpc-js server
// (bench/platform/server.mjs grpc-js-no-channelz), each load a fresh process
// (bench/platform/client-load.mjs), kinds interleaved within every repeat.
//   node bench/platform/client.mjs [--c=1,16] [--seconds=3] [--repeats=3] [--kinds=grpc-js,platform,platform-explicit,http2]
// Also part of `node bench/run.mjs platform` (the rows "client CPU per call" under part platform).
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startPortServer } from "../src/processes.mjs";
import { quantile, spread } from "../src/stats.mjs";

const run = promisify(execFile);
const SERVER = fileURLToPath(new URL("./server.mjs", import.meta.url));
const LOAD = fileURLToPath(new URL("./client-load.mjs", import.meta.url));

export const CLIENT_KINDS = {
  "grpc-js": "bare @grpc/grpc-js client (promise-wrapped makeUnaryRequest, 5 s deadline)",
  platform: "platform createClient (implicit context: AsyncLocalStorage on, as in a service)",
  "platform-explicit": "platform createClient, implicitContext: false (as the gateway)",
  /** The floor of a Node caller: raw node:http2 with the same protobuf-es messages, no gRPC library. */
  http2: "raw node:http2 client (floor)",
};
/** The baseline first: every other kind is compared with it. */
const DEFAULT_KINDS = ["grpc-js", "platform", "platform-explicit", "http2"];

/** One load: `kind[@dist]` at `concurrency` for `seconds`; resolves to { rps, cpuUsPerCall, p50Ms, p99Ms }. */
async function clientLoad(kindSpec, port, concurrency, seconds) {
  const [kind, dist] = kindSpec.split("@");
  const { stdout } = await run(process.execPath, [LOAD, JSON.stringify({ kind, port, concurrency, seconds, warmupSeconds: 1 })], {
    env: { ...process.env, ...(dist ? { PLATFORM_DIST: resolve(dist) } : {}) },
    maxBuffer: 64 * 1024 * 1024,
    timeout: (seconds + 60) * 1000,
  });
  const result = JSON.parse(stdout);
  if (result.requests === 0 || result.failed > 0) throw new Error(`client load ${kindSpec} failed: ${stdout.slice(0, 300)}`);
  return {
    rps: result.requests / result.seconds,
    cpuUsPerCall: result.cpuUsPerCall,
    p50Ms: quantile(result.latenciesUs, 0.5) / 1000,
    p99Ms: quantile(result.latenciesUs, 0.99) / 1000,
  };
}

/**
 * Runs the client comparison; resolves to { samples: { [kind]: { [c]: [result] } }, pairs } where
 * `pairs` are rows for the bench report (subject: each platform kind, baseline: bare grpc-js).
 */
export async function runClientCalls({ seconds = 3, repeats = 3, concurrencies = [1, 16], kinds = DEFAULT_KINDS, log = () => {} } = {}) {
  const samples = Object.fromEntries(kinds.map((k) => [k, Object.fromEntries(concurrencies.map((c) => [c, []]))]));
  for (let round = 0; round < repeats; round++) {
    const server = await startPortServer(SERVER, ["grpc-js-no-channelz"], { LOG_LEVEL: "info" });
    try {
      for (const c of concurrencies)
        for (const kind of kinds) {
          const result = await clientLoad(kind, server.port, c, seconds);
          samples[kind][c].push(result);
          log(
            `round ${round + 1}/${repeats} c=${c} ${kind}: ${result.rps.toFixed(0)} calls/s, client CPU ${result.cpuUsPerCall.toFixed(1)} µs/call`,
          );
        }
    } finally {
      await server.stop();
    }
  }
  const baseline = kinds[0];
  const pairs = [];
  for (const kind of kinds.slice(1))
    for (const c of concurrencies)
      pairs.push({
        label: `client CPU per GetProduct call, ${CLIENT_KINDS[kind.split("@")[0]] ?? kind}, c=${c}`,
        unit: "µs/call",
        subject: spread(samples[kind][c].map((r) => r.cpuUsPerCall)),
        baselineLabel: CLIENT_KINDS[baseline.split("@")[0]] ?? baseline,
        baseline: spread(samples[baseline][c].map((r) => r.cpuUsPerCall)),
      });
  return { samples, pairs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { loadavg } = await import("node:os");
  const flag = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
  const kinds = flag("kinds", DEFAULT_KINDS.join(",")).split(",");
  const concurrencies = flag("c", "1,16").split(",").map(Number);
  const load0 = loadavg()[0];
  const { samples } = await runClientCalls({
    seconds: Number(flag("seconds", 3)),
    repeats: Number(flag("repeats", 3)),
    concurrencies,
    kinds,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  console.log(`client CPU per GetProduct call (medians of repeats), load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
  for (const c of concurrencies) {
    const base = spread(samples[kinds[0]][c].map((r) => r.cpuUsPerCall)).median;
    for (const kind of kinds) {
      const cpu = spread(samples[kind][c].map((r) => r.cpuUsPerCall));
      const rps = spread(samples[kind][c].map((r) => r.rps)).median;
      console.log(
        `c=${String(c).padEnd(3)} ${kind.padEnd(50)} ${cpu.median.toFixed(1).padStart(7)} µs/call (min ${cpu.min.toFixed(1)}, max ${cpu.max.toFixed(1)}) ${(cpu.median / base).toFixed(3)}×  ${rps.toFixed(0)} calls/s`,
      );
    }
  }
}
