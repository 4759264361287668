// One load generator for every HTTP benchmark: h2load (nghttp2) in its own process, one thread,
// timing-based (-D), with per-request latencies from its --log-file for p50/p99.
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { scratch } from "./grpc-frame.mjs";
import { cpuSeconds } from "./processes.mjs";
import { quantile } from "./stats.mjs";

const run = promisify(execFile);
export const H2LOAD = process.env.H2LOAD ?? "/usr/bin/h2load";
const MAX_CONNECTIONS = Number(process.env.BENCH_H2_CONNECTIONS ?? 4);
let logCounter = 0;

/**
 * How `concurrency` in-flight requests are laid out: HTTP/2 spreads them over up to
 * BENCH_H2_CONNECTIONS (4) connections as concurrent streams; HTTP/1.1 uses one connection each.
 */
export function layout(concurrency, h1 = false) {
  if (h1) return { connections: concurrency, streams: 1 };
  const connections = Math.min(concurrency, MAX_CONNECTIONS);
  return { connections, streams: Math.ceil(concurrency / connections) };
}

/**
 * Runs h2load for `seconds` against `url` with `concurrency` requests in flight.
 * `body` is a file sent as the request body (POST), `headers` extra request headers, `h1` forces
 * HTTP/1.1, `pids` are server processes whose CPU per request is reported.
 * Resolves to { rps, p50Ms, p90Ms, p99Ms, maxMs, requests, failed, cpuUsPerRequest }.
 */
export async function h2load({ url, seconds, concurrency, body, headers = [], h1 = false, pids = [] }) {
  const { connections, streams } = layout(concurrency, h1);
  const logFile = join(scratch, `h2load-${process.pid}-${++logCounter}.log`);
  const args = ["-D", String(seconds), "-c", String(connections), "-m", String(streams), "-t", "1", "--log-file", logFile];
  if (h1) args.push("--h1");
  if (body) args.push("-d", body);
  for (const header of headers) args.push("-H", header);
  args.push(url);
  const cpuBefore = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const { stdout } = await run(H2LOAD, args, { maxBuffer: 64 * 1024 * 1024, timeout: (seconds + 60) * 1000 });
  const cpuAfter = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout)?.[1]);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
    stdout,
  );
  const done = Number(counts?.[3]);
  const succeeded = Number(counts?.[4]);
  const ok2xx = Number(/status codes: (\d+) 2xx/.exec(stdout)?.[1]);
  let latenciesUs = [];
  try {
    latenciesUs = readFileSync(logFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split("\t"))
      .filter((cols) => cols[1] === "200")
      .map((cols) => Number(cols[2]));
  } finally {
    rmSync(logFile, { force: true });
  }
  if (!Number.isFinite(rps) || succeeded === 0 || ok2xx === 0) throw new Error(`h2load failed against ${url}:\n${stdout}`);
  const ms = (us) => us / 1000;
  return {
    rps,
    p50Ms: ms(quantile(latenciesUs, 0.5)),
    p90Ms: ms(quantile(latenciesUs, 0.9)),
    p99Ms: ms(quantile(latenciesUs, 0.99)),
    maxMs: ms(quantile(latenciesUs, 1)),
    requests: done,
    failed: done - ok2xx,
    cpuUsPerRequest: pids.length && done ? ((cpuAfter - cpuBefore) * 1e6) / done : NaN,
    connections,
    streams,
  };
}

/** The request headers of a gRPC call over h2c (the body is a length-prefixed frame). */
export const GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"];

/**
 * A load of unary gRPC calls of one prebuilt frame (`body`, e.g. `grpcFrameFile()`) against
 * `http://127.0.0.1:<port><path>`: returns `(concurrency, seconds) => h2load result`, counting the
 * CPU of `pids` (a function, to read them at call time, or an array).
 */
export function grpcUnaryLoad({ port, path, body, pids = [] }) {
  return (concurrency, seconds) =>
    h2load({
      url: `http://127.0.0.1:${port}${path}`,
      seconds,
      concurrency,
      body,
      headers: GRPC_HEADERS,
      pids: typeof pids === "function" ? pids() : pids,
    });
}
