import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import { gunzip } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServerSurfaceCall } from "../adapter/call-context.js";
import { connectErrorOf, STATUS_DETAILS_KEY } from "../adapter/status.js";
import {
  type Http2SessionPool,
  NGHTTP2_CANCEL,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_INADEQUATE_SECURITY,
  NGHTTP2_REFUSED_STREAM,
} from "./http2-session-pool.js";

/** One unary call as the wire sees it. */
export interface Http2UnaryRequest {
  /** `/package.Service/Method`. */
  path: string;
  /** Request metadata (lower-case keys; `-bin` values already base64). */
  metadata: Record<string, string>;
  /** The serialized request message (unframed). */
  message: Uint8Array;
  /** Absolute deadline in ms since the epoch; Infinity for none. */
  deadline: number;
  signal?: AbortSignal | undefined;
  /** The incoming call: its cancellation cancels this call (grpc-js's `parent`). */
  parent?: ServerSurfaceCall | undefined;
  maxMessageBytes: number;
}

/**
 * Errors of calls the server had already answered with gRPC response headers: the call was
 * committed (gRFC A6, as grpc-js), so it is not retried even when its status is UNAVAILABLE — the
 * server may have processed it.
 */
const committedErrors = new WeakSet<ConnectError>();

/** True when `error` ended a call after the server's response headers: not to be retried. */
export function isCommitted(error: ConnectError): boolean {
  return committedErrors.has(error);
}

/** How long after its deadline a call's stream is reset, when the server has not ended it by then. */
const DEADLINE_GRACE_MS = 100;

const UNITS: [string, number][] = [
  ["m", 1],
  ["S", 1000],
  ["M", 60_000],
  ["H", 3_600_000],
];

/** `grpc-timeout` for the time left until `deadline` (grpc-js's encoding: at most 8 digits). */
export function grpcTimeout(deadline: number): string {
  const ms = Math.max(deadline - Date.now(), 0);
  for (const [unit, factor] of UNITS) {
    const amount = Math.ceil(ms / factor);
    if (amount < 1e8) return `${amount}${unit}`;
  }
  return "99999999H";
}

/** The code of a non-200 HTTP status (the gRPC spec's HTTP-to-gRPC mapping). */
function httpStatusCode(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** The code of a stream the server reset (grpc-js's mapping). */
function resetCode(rstCode: number): Code {
  switch (rstCode) {
    case NGHTTP2_REFUSED_STREAM:
      return Code.Unavailable;
    case NGHTTP2_CANCEL:
      return Code.Canceled;
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return Code.ResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY:
      return Code.PermissionDenied;
    default:
      return Code.Internal;
  }
}

/** `grpc-message` is percent-encoded on the wire; a malformed one is kept as sent. */
function decodeMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Response metadata as a client reads it: no pseudo-headers, no status fields. */
function trailerHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const key in headers) {
    if (key.startsWith(":") || key === "grpc-status" || key === "grpc-message") continue;
    const value = headers[key];
    if (value === undefined) continue;
    out.set(key, Array.isArray(value) ? value.join(", ") : value);
  }
  return out;
}

/** The error of a status in `headers` (trailers, or trailers-only headers); undefined for OK. */
function statusError(headers: IncomingHttpHeaders, status: number): ConnectError | undefined {
  if (status === 0) return undefined;
  const bin = headers[STATUS_DETAILS_KEY];
  const details = typeof bin === "string" ? Buffer.from(bin, "base64") : undefined;
  return connectErrorOf(status, decodeMessage(headers["grpc-message"]), details, trailerHeaders(headers));
}

function gunzipMessage(data: Buffer, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(data, { maxOutputLength: max }, (error, result) => {
      if (!error) resolve(result);
      else if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
        reject(new ConnectError(`Received message that decompresses to a size larger than ${max}`, Code.ResourceExhausted));
      else reject(new ConnectError(`Failed to decompress the response: ${error.message}`, Code.Internal));
    });
  });
}

/**
 * Sends one gRPC unary call on a pooled HTTP/2 session and resolves with the response message's
 * bytes, or rejects with the call's status as a ConnectError (details decoded). Transport failures
 * before an answer are UNAVAILABLE; the deadline is DEADLINE_EXCEEDED and the abort signal or the
 * parent's cancellation CANCELLED, each resetting the stream with CANCEL.
 */
export function http2Unary(pool: Http2SessionPool, request: Http2UnaryRequest): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    if (request.deadline <= Date.now()) {
      reject(new ConnectError("Deadline exceeded", Code.DeadlineExceeded));
      return;
    }
    if (request.message.byteLength > request.maxMessageBytes) {
      reject(
        new ConnectError(
          `Sent message larger than max (${request.message.byteLength} vs ${request.maxMessageBytes})`,
          Code.ResourceExhausted,
        ),
      );
      return;
    }
    if (request.signal?.aborted || request.parent?.cancelled) {
      reject(new ConnectError("Cancelled on client", Code.Canceled));
      return;
    }
    let found: ClientHttp2Session | Promise<ClientHttp2Session>;
    try {
      found = pool.session();
    } catch (error) {
      reject(new ConnectError((error as Error).message, Code.Unavailable));
      return;
    }
    if (found instanceof Promise) awaitSession(pool, found, request, resolve, reject);
    else start(pool, found, request, resolve, reject);
  });
}

/**
 * Waits for the session of a target still being resolved (or its certificate read) — within the
 * call's deadline and cancellation, as the call itself would: a lookup that hangs must not hold the
 * caller past its deadline.
 */
function awaitSession(
  pool: Http2SessionPool,
  found: Promise<ClientHttp2Session>,
  request: Http2UnaryRequest,
  resolve: (message: Buffer) => void,
  reject: (error: ConnectError) => void,
): void {
  let waiting = true;
  const stop = (): boolean => {
    if (!waiting) return false;
    waiting = false;
    if (timer !== undefined) clearTimeout(timer);
    request.signal?.removeEventListener("abort", onAbort);
    request.parent?.removeListener("cancelled", onAbort);
    return true;
  };
  const onAbort = () => {
    if (stop()) reject(new ConnectError("Cancelled on client", Code.Canceled));
  };
  const timer =
    request.deadline === Infinity
      ? undefined
      : setTimeout(() => {
          if (stop()) reject(new ConnectError(`Deadline exceeded while connecting to ${pool.name}`, Code.DeadlineExceeded));
        }, request.deadline - Date.now());
  request.signal?.addEventListener("abort", onAbort, { once: true });
  request.parent?.once("cancelled", onAbort);
  found.then(
    (session) => {
      if (stop()) start(pool, session, request, resolve, reject);
    },
    (error: Error) => {
      if (stop()) reject(new ConnectError(`name resolution failed for ${pool.name}: ${error.message}`, Code.Unavailable));
    },
  );
}

function start(
  pool: Http2SessionPool,
  session: ClientHttp2Session,
  request: Http2UnaryRequest,
  resolve: (message: Buffer) => void,
  reject: (error: ConnectError) => void,
): void {
  // The session may have come after a resolution: the caller may have left or run out of time meanwhile.
  if (request.signal?.aborted || request.parent?.cancelled) {
    reject(new ConnectError("Cancelled on client", Code.Canceled));
    return;
  }
  if (request.deadline <= Date.now()) {
    reject(new ConnectError("Deadline exceeded", Code.DeadlineExceeded));
    return;
  }
  const headers: Record<string, string> = {
    ...request.metadata,
    ":method": "POST",
    ":path": request.path,
    "content-type": "application/grpc",
    te: "trailers",
  };
  if (request.deadline !== Infinity) headers["grpc-timeout"] = grpcTimeout(request.deadline);
  let stream: ClientHttp2Stream;
  try {
    stream = session.request(headers);
  } catch (error) {
    // A header node refuses (a bad metadata name or value) is the caller's; anything else is a session going away.
    const invalid = /^ERR_HTTP2_INVALID_(HEADER|PSEUDOHEADER|CONNECTION_HEADERS)/.test(String((error as NodeJS.ErrnoException).code));
    reject(
      invalid
        ? new ConnectError(`invalid request metadata: ${(error as Error).message}`, Code.Internal)
        : new ConnectError(`connection to ${pool.name} is closing: ${(error as Error).message}`, Code.Unavailable),
    );
    return;
  }
  pool.hold(session);

  const max = request.maxMessageBytes;
  const chunks: Buffer[] = [];
  let received = 0;
  let responded = false;
  let committed = false; // gRPC response headers came (not trailers-only): no retry from here
  let statusHeaders: IncomingHttpHeaders | undefined;
  let encoding: string | undefined;
  let failure: ConnectError | undefined;
  let transportError: Error | undefined;
  let settled = false;

  const timer = request.deadline === Infinity ? undefined : setTimeout(expire, request.deadline - Date.now());
  const onAbort = () => cancel(new ConnectError("Cancelled on client", Code.Canceled));
  request.signal?.addEventListener("abort", onAbort, { once: true });
  request.parent?.once("cancelled", onAbort);

  function cancel(error: ConnectError): void {
    failure ??= error;
    if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
  }

  /**
   * The deadline passed: the caller gets DEADLINE_EXCEEDED now; the stream is reset a moment later
   * unless it ends first, so the server, whose copy of the deadline runs out at the same time, sees
   * its deadline rather than a cancellation.
   */
  function expire(): void {
    failure ??= new ConnectError("Deadline exceeded", Code.DeadlineExceeded);
    settle();
    reject(failure);
    setTimeout(() => {
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    }, DEADLINE_GRACE_MS).unref();
  }

  function settle(): void {
    if (settled) return;
    settled = true;
    if (timer !== undefined) clearTimeout(timer);
    request.signal?.removeEventListener("abort", onAbort);
    request.parent?.removeListener("cancelled", onAbort);
    pool.release(session);
  }

  stream.on("response", (head) => {
    responded = true;
    const status = head[":status"];
    if (status !== 200) {
      failure ??= new ConnectError(`Received HTTP status code ${status}`, httpStatusCode(Number(status)));
      return;
    }
    const type = head["content-type"];
    if (typeof type !== "string" || !type.startsWith("application/grpc")) {
      failure ??= new ConnectError(`Received invalid content-type ${type}`, Code.Unknown);
      return;
    }
    encoding = typeof head["grpc-encoding"] === "string" ? head["grpc-encoding"] : undefined;
    if (head["grpc-status"] !== undefined)
      statusHeaders = head; // trailers-only
    else committed = true;
  });
  let lengthChecked = false;
  stream.on("data", (chunk: Buffer) => {
    if (failure) return;
    chunks.push(chunk);
    received += chunk.byteLength;
    // The declared length, once its five bytes are in (read once: a large message comes in many chunks).
    if (!lengthChecked && received >= 5) {
      lengthChecked = true;
      const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const length = head.readUInt32BE(1);
      if (length > max) cancel(new ConnectError(`Received message larger than max (${length} vs ${max})`, Code.ResourceExhausted));
    }
    // A unary answer is one message: more bytes than the largest allowed frame are not kept.
    if (received > max + 5)
      cancel(new ConnectError(`Received more than one message's worth of data (over ${max} bytes)`, Code.ResourceExhausted));
  });
  stream.on("trailers", (trailers) => {
    statusHeaders = trailers;
  });
  stream.on("error", (error) => {
    transportError ??= error;
  });
  stream.on("close", () => {
    if (settled) return;
    settle();
    const outcome = finish();
    if (outcome instanceof ConnectError) {
      if (committed) committedErrors.add(outcome);
      reject(outcome);
    } else if (outcome instanceof Promise) outcome.then(resolve, reject);
    else resolve(outcome);
  });
  stream.end(frame(request.message));

  function finish(): ConnectError | Buffer | Promise<Buffer> {
    if (failure) return failure;
    if (statusHeaders) {
      const raw = statusHeaders["grpc-status"];
      const status = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : Code.Unknown;
      const error = statusError(statusHeaders, status);
      if (error) return error;
      return message();
    }
    // No status: the stream ended without one.
    if (session.destroyed || session.closed || !responded) {
      const why = transportError?.message ?? "connection closed";
      return new ConnectError(`${responded ? "connection dropped" : `no connection to ${pool.name}`}: ${why}`, Code.Unavailable);
    }
    if (stream.rstCode !== undefined && stream.rstCode !== 0) {
      return new ConnectError(`Received RST_STREAM with code ${stream.rstCode}`, resetCode(stream.rstCode));
    }
    return new ConnectError("the response ended without a grpc-status", Code.Internal);
  }

  function message(): ConnectError | Buffer | Promise<Buffer> {
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
    if (body.byteLength < 5) return new ConnectError("No message received", Code.Unimplemented);
    const length = body.readUInt32BE(1);
    if (body.byteLength !== length + 5) {
      return new ConnectError(
        body.byteLength < length + 5 ? "the response ended inside a message" : "received extra messages for a unary method",
        Code.Internal,
      );
    }
    const data = body.subarray(5);
    if (body[0] === 0) return data;
    if (body[0] === 1 && encoding === "gzip") return gunzipMessage(data, max);
    return new ConnectError(`Received a compressed message without a supported grpc-encoding (${encoding ?? "none"})`, Code.Internal);
  }
}

/** The length-prefixed frame of one uncompressed message. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(message.byteLength + 5);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}
