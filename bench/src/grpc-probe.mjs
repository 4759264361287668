// One gRPC call over raw HTTP/2 before a load run: h2load only sees HTTP 200, while a gRPC error
// travels in the grpc-status trailer, so every target is checked to answer OK with a message.

import { readFileSync } from "node:fs";
import http2 from "node:http2";

/** Sends the frame in `frameFile` (a path or a Buffer) to `path` on `port`; resolves to { grpcStatus, grpcMessage, responseBytes }. */
export function grpcProbe(port, path, frameFile) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    const chunks = [];
    let headers = {};
    stream.on("response", (h) => (headers = h));
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("trailers", (trailers) => (headers = { ...headers, ...trailers }));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      const body = Buffer.concat(chunks);
      resolve({ grpcStatus: String(headers["grpc-status"]), grpcMessage: headers["grpc-message"], responseBytes: body.length, body });
    });
    stream.end(Buffer.isBuffer(frameFile) ? frameFile : readFileSync(frameFile));
  });
}

/** Throws unless the target answers the probe with grpc-status 0; returns the response size. */
export async function assertGrpcOk(name, port, path, frameFile) {
  const probe = await grpcProbe(port, path, frameFile);
  if (probe.grpcStatus !== "0") throw new Error(`${name} answered grpc-status ${probe.grpcStatus} (${probe.grpcMessage ?? ""})`);
  return probe.responseBytes;
}

/** grpc.health.v1.Health/Check for the whole server ("" service): "SERVING", "NOT_SERVING", or the error. */
export async function healthStatus(port) {
  try {
    const probe = await grpcProbe(port, "/grpc.health.v1.Health/Check", Buffer.alloc(5));
    if (probe.grpcStatus !== "0") return `grpc-status ${probe.grpcStatus}`;
    // HealthCheckResponse { status = 1 } is 08 01 after the 5-byte frame header; absent field = UNKNOWN (0).
    const status = probe.body.length >= 7 && probe.body[5] === 0x08 ? probe.body[6] : 0;
    return ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][status] ?? String(status);
  } catch (error) {
    return String(error);
  }
}
