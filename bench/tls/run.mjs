// Part "tls": what mTLS costs a call. The platform as services run it (mTLS, the access table checked
// on every call) against bare grpc-js with the same TLS (client certificate required, no access
// check), and each against itself in plaintext. h2load presents no client certificate, so every
// target here is loaded by the same Node gRPC load (bench/src/grpc-load-process.mjs) — absolute
// rates are lower than part 1's h2load figures; the ratios are what to read.
import { fileURLToPath } from "node:url";
import { createTestCertificates } from "@shop/platform/testing/certificates";
import { GET_PRODUCT_PATH, grpcFrameFile } from "../src/grpc-frame.mjs";
import { grpcLoad } from "../src/grpc-load.mjs";
import { startPortServer } from "../src/processes.mjs";
import { sweep } from "../src/sweep.mjs";

const SERVER = fileURLToPath(new URL("../platform/server.mjs", import.meta.url));

const TARGETS = {
  "platform-mtls": { label: "platform serve(), mTLS + access table (as the services run)", kind: "platform-mtls", tls: true },
  "grpc-js-mtls": { label: "bare @grpc/grpc-js, the same mTLS", kind: "grpc-js-mtls", tls: true },
  platform: { label: "platform serve(), plaintext (MESH_TLS=off)", kind: "platform", tls: false },
  "grpc-js": { label: "bare @grpc/grpc-js, plaintext, channelz off", kind: "grpc-js-no-channelz", tls: false },
};

/** Runs the part: `seconds` per point, `repeats` rounds on fresh servers, at `concurrencies`. */
export async function runTls({ seconds, repeats, concurrencies, log = console.log }) {
  const certificates = await createTestCertificates(["inventory", "gateway"]);
  const frame = grpcFrameFile();
  const ids = Object.keys(TARGETS);
  const running = {};
  const startAll = async () => {
    for (const id of ids)
      running[id] = await startPortServer(SERVER, [TARGETS[id].kind], { LOG_LEVEL: "info", CERTS_DIR: certificates.dir });
  };
  const gateway = `${certificates.dir}/gateway`;
  const tls = { ca: `${gateway}/ca.crt`, cert: `${gateway}/tls.crt`, key: `${gateway}/tls.key`, servername: "inventory" };
  try {
    await startAll();
    const load = (id, concurrency, secs) =>
      grpcLoad({
        port: running[id].port,
        path: GET_PRODUCT_PATH,
        frame,
        seconds: secs,
        concurrency,
        tls: TARGETS[id].tls ? tls : undefined,
        pids: [running[id].child.pid],
      });
    const restart = async () => {
      await Promise.all(Object.values(running).map((r) => r.stop()));
      await startAll();
    };
    const series = await sweep({ ids, concurrencies, repeats, seconds, load, restart, log: (m) => log(`  tls: ${m}`) });
    return {
      title: "Unary GetProduct over mTLS: what TLS and the access check cost a call",
      method: `a Node gRPC load (bench/src/grpc-load-process.mjs: up to 4 HTTP/2 connections, concurrency = calls in flight, the gateway's test certificate; h2load cannot present one), the same prebuilt frame and response, ${seconds} s per point, ${repeats} interleaved repeats on freshly started servers; LOG_LEVEL=info`,
      series: series.map((s) => ({ ...s, label: TARGETS[s.id].label })),
      comparisons: [
        { subject: "platform-mtls", baseline: "grpc-js-mtls" },
        { subject: "platform-mtls", baseline: "platform" },
        { subject: "grpc-js-mtls", baseline: "grpc-js" },
      ],
    };
  } finally {
    await Promise.all(Object.values(running).map((r) => r.stop()));
    await certificates.remove();
  }
}
