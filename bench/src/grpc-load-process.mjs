// A gRPC unary load in its own process, for servers h2load cannot load: h2load presents no client
// certificate, and an mTLS server refuses the handshake. Closed loop: `connections` HTTP/2
// connections (TLS with a client certificate, or h2c), `streams` calls in flight on each, for
// `seconds`; the same prebuilt request frame every time. Prints one JSON line:
// { requests, failed, seconds, latenciesUs: [sampled] }.
//   node grpc-load-process.mjs '{"port":1234,"path":"/pkg.Svc/Method","frame":"<file>","connections":4,"streams":16,"seconds":3,"tls":{"ca":…,"cert":…,"key":…,"servername":"inventory"}}'
import { readFileSync } from "node:fs";
import http2 from "node:http2";

const spec = JSON.parse(process.argv[2]);
const frame = readFileSync(spec.frame);
const tls = spec.tls && {
  ca: readFileSync(spec.tls.ca),
  cert: readFileSync(spec.tls.cert),
  key: readFileSync(spec.tls.key),
  servername: spec.tls.servername,
};
const authority = `${tls ? "https" : "http"}://127.0.0.1:${spec.port}`;
const headers = {
  ":method": "POST",
  ":path": spec.path,
  "content-type": "application/grpc",
  te: "trailers",
};

const sessions = await Promise.all(
  Array.from(
    { length: spec.connections },
    () =>
      new Promise((resolve, reject) => {
        const session = http2.connect(authority, tls ?? {});
        session.once("connect", () => resolve(session));
        session.once("error", reject);
      }),
  ),
);

let requests = 0;
let failed = 0;
const latenciesUs = [];
const deadline = performance.now() + spec.seconds * 1000;

/** One call: resolves when its trailers (grpc-status) arrive. */
function call(session) {
  return new Promise((resolve) => {
    const started = performance.now();
    const stream = session.request(headers, { endStream: false });
    let status;
    stream.on("response", (h) => (status = h["grpc-status"] ?? status));
    stream.on("trailers", (t) => (status = t["grpc-status"] ?? status));
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    stream.on("close", () => {
      requests += 1;
      if (status !== "0") failed += 1;
      // Every 4th latency is enough for p50/p99 and keeps the array small.
      if (requests % 4 === 0) latenciesUs.push((performance.now() - started) * 1000);
      resolve();
    });
    stream.end(frame);
  });
}

async function loop(session) {
  while (performance.now() < deadline) await call(session);
}

const began = performance.now();
await Promise.all(sessions.flatMap((session) => Array.from({ length: spec.streams }, () => loop(session))));
const seconds = (performance.now() - began) / 1000;
for (const session of sessions) session.close();
process.stdout.write(`${JSON.stringify({ requests, failed, seconds, latenciesUs })}\n`);
