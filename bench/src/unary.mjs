// Part 1: unary GetProduct through the platform's serve() (every interceptor on; and again with
// async context propagation on, as in a service with outgoing calls) vs a bare
// @connectrpc/connect-node server vs a bare @grpc/grpc-js server, all answering the same message,
// each its own process, loaded by the same h2load with a prebuilt gRPC frame, rounds interleaved.
import { fileURLToPath } from "node:url";
import { GET_PRODUCT_PATH, grpcFrameFile } from "./grpc-frame.mjs";
import { assertGrpcOk } from "./grpc-probe.mjs";
import { grpcUnaryLoad } from "./h2load.mjs";
import { startPortServer } from "./processes.mjs";
import { sweep } from "./sweep.mjs";

const PLATFORM_SERVER = fileURLToPath(new URL("../platform/server.mjs", import.meta.url));
const CONNECT_SERVER = fileURLToPath(new URL("./connect-server.mjs", import.meta.url));

/** The targets, by id: how to start each. `http2` (raw node:http2, the ceiling) is opt-in. */
export const UNARY_TARGETS = {
  platform: { label: "platform serve() (grpc-js + all interceptors)", start: (env) => startPortServer(PLATFORM_SERVER, ["platform"], env) },
  "platform-unvalidated": {
    label: "platform serve() without request validation (buf.validate off)",
    start: (env) => startPortServer(PLATFORM_SERVER, ["platform-unvalidated"], env),
  },
  "platform-propagating": {
    label: "platform serve() + async context (as in a service with outgoing calls)",
    start: (env) => startPortServer(PLATFORM_SERVER, ["platform-propagating"], env),
  },
  connect: { label: "bare @connectrpc/connect-node (h2c)", start: (env) => startPortServer(CONNECT_SERVER, [], env) },
  "grpc-js": { label: "bare @grpc/grpc-js", start: (env) => startPortServer(PLATFORM_SERVER, ["grpc-js"], env) },
  http2: { label: "raw node:http2 responder (ceiling)", start: (env) => startPortServer(PLATFORM_SERVER, ["http2"], env) },
};

/**
 * Runs part 1: the server side (below), then the client side of a call — the CPU of the calling
 * process per call, the platform's createClient against a bare grpc-js client, same bare server
 * (bench/platform/client.mjs; rows "client CPU per GetProduct call"; BENCH_CLIENT_CONCURRENCY,
 * default 1,16; BENCH_CLIENT=0 skips them). Returns the part's result object.
 */
export async function runUnary(options) {
  const result = await serverSide(options);
  if (process.env.BENCH_CLIENT === "0") return result;
  const { runClientCalls } = await import("../platform/client.mjs");
  const concurrencies = (process.env.BENCH_CLIENT_CONCURRENCY ?? "1,16").split(",").map(Number);
  const log = options.log ?? console.log;
  const { pairs } = await runClientCalls({
    seconds: options.seconds,
    repeats: options.repeats,
    concurrencies,
    log: (m) => log(`  client: ${m}`),
  });
  return {
    ...result,
    method: `${result.method}. Client rows: a Node process calling GetProduct in a closed loop (c calls in flight on one channel) through the platform's createClient or a bare grpc-js client against one bare grpc-js server, CPU of the calling process (process.cpuUsage) per call over ${options.seconds} s after 1 s of warm-up, ${options.repeats} repeats, kinds interleaved`,
    pairs: [...(result.pairs ?? []), ...pairs],
  };
}

/**
 * The server side of part 1. `options`: seconds per point, repeats, concurrencies, targets (ids), and
 * `env` per target id (e.g. NODE_ARGS for --cpu-prof). Returns the part's result object.
 */
async function serverSide({
  seconds,
  repeats,
  concurrencies,
  targets = ["platform", "platform-unvalidated", "platform-propagating", "connect", "grpc-js"],
  env = {},
  log = console.log,
}) {
  const frame = grpcFrameFile();
  const running = {};
  const startAll = async () => {
    for (const id of targets) running[id] = await UNARY_TARGETS[id].start({ LOG_LEVEL: "info", ...(env[id] ?? {}) });
  };
  try {
    await startAll();
    const sizes = {};
    for (const id of targets) sizes[id] = await assertGrpcOk(id, running[id].port, GET_PRODUCT_PATH, frame);
    log(`  unary: response frame bytes ${JSON.stringify(sizes)}`);
    const load = (id, concurrency, secs) =>
      grpcUnaryLoad({ port: running[id].port, path: GET_PRODUCT_PATH, body: frame, pids: [running[id].child.pid] })(concurrency, secs);
    const restart = async () => {
      await Promise.all(Object.values(running).map((r) => r.stop()));
      await startAll();
    };
    const series = await sweep({ ids: targets, concurrencies, repeats, seconds, load, restart, log: (m) => log(`  unary: ${m}`) });
    return {
      title: "Unary GetProduct: platform vs bare servers",
      method: `h2load (one thread, up to 4 connections, concurrency = streams in flight), prebuilt gRPC frame, same response message (${sizes[targets[0]]} bytes), ${seconds} s per point, ${repeats} interleaved repeats, each on freshly started servers; servers log at LOG_LEVEL=info`,
      series: series.map((s) => ({ ...s, label: UNARY_TARGETS[s.id].label })),
      comparisons: [
        ...(targets.includes("platform") && targets.includes("grpc-js") ? [{ subject: "platform", baseline: "grpc-js" }] : []),
        ...(targets.includes("platform") && targets.includes("platform-unvalidated")
          ? [{ subject: "platform", baseline: "platform-unvalidated" }]
          : []),
        ...(targets.includes("platform-propagating") && targets.includes("grpc-js")
          ? [{ subject: "platform-propagating", baseline: "grpc-js" }]
          : []),
        ...(targets.includes("connect") && targets.includes("grpc-js") ? [{ subject: "connect", baseline: "grpc-js" }] : []),
        ...(targets.includes("platform") && targets.includes("connect") ? [{ subject: "platform", baseline: "connect" }] : []),
        ...(targets.includes("grpc-js") && targets.includes("http2") ? [{ subject: "grpc-js", baseline: "http2" }] : []),
      ],
    };
  } finally {
    await Promise.all(Object.values(running).map((r) => r.stop()));
  }
}
