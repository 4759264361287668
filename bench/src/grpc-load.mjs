// Runs bench/src/grpc-load-process.mjs (a Node gRPC load that can present a client certificate)
// and reports what h2load.mjs reports: rate, latency quantiles, server CPU per request.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { layout } from "./h2load.mjs";
import { cpuSeconds } from "./processes.mjs";
import { quantile } from "./stats.mjs";

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL("./grpc-load-process.mjs", import.meta.url));

/**
 * `concurrency` calls in flight against 127.0.0.1:`port` for `seconds`, laid out as h2load does
 * (up to 4 connections); `tls` ({ ca, cert, key, servername } file paths) for mTLS, else h2c.
 */
export async function grpcLoad({ port, path, frame, seconds, concurrency, tls, pids = [] }) {
  const { connections, streams } = layout(concurrency);
  const cpuBefore = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const { stdout } = await run(process.execPath, [LOAD, JSON.stringify({ port, path, frame, connections, streams, seconds, tls })], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: (seconds + 60) * 1000,
  });
  const cpuAfter = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const result = JSON.parse(stdout);
  if (result.requests === 0 || result.failed === result.requests)
    throw new Error(`the gRPC load failed against port ${port}: ${stdout.slice(0, 300)}`);
  const ms = (us) => us / 1000;
  return {
    rps: result.requests / result.seconds,
    p50Ms: ms(quantile(result.latenciesUs, 0.5)),
    p90Ms: ms(quantile(result.latenciesUs, 0.9)),
    p99Ms: ms(quantile(result.latenciesUs, 0.99)),
    requests: result.requests,
    failed: result.failed,
    cpuUsPerRequest: pids.length ? ((cpuAfter - cpuBefore) * 1e6) / result.requests : NaN,
    connections,
    streams,
  };
}
