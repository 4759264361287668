import type { Http2ServerResponse } from "node:http2";
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Compression,
  compressionNegotiate,
  createAsyncIterable,
  createMethodSerializationLookup,
  type MethodSerializationLookup,
  mergeNonProtocolHeaders,
  pipe,
  transformDecompressEnvelope,
  transformParseEnvelope,
  transformSplitEnvelope,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryRegExp,
  errorToJsonBytes,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { Edge } from "../edge/edge.js";
import type { NodeRequest, NodeResponse } from "../http/error-response.js";
import type { PublicMethod } from "./public-surface.js";

/**
 * The unary fast path: Connect unary (POST, `application/json` or `application/proto`) and gRPC
 * unary over HTTP/2 (`application/grpc`, `application/grpc+proto`), served straight on node's
 * request/response instead of through connect-node's universal handler.
 *
 * Why hand-written: connect-node runs every unary call through async-iterable pipelines, a handler
 * context with three linked AbortControllers (each abort without a reason builds a DOMException with
 * a stack) and header conversions; profiled, that was ~10–15 % of the gateway's CPU per call. This
 * path uses connect's own pieces for everything a caller can observe — content types, timeout
 * parsing, compression negotiation, size limits, serialization, error JSON, gRPC trailer status —
 * so the wire behaviour is the adapter's. Everything else (GET, gRPC-Web, gRPC JSON, gRPC over
 * HTTP/1.1, streams, reflection) still goes to connect-node: `serve` answers false for it.
 */
export interface LeanUnary {
  /** Serves the request if it is a call this path handles; false to hand it to connect-node. */
  serve(req: NodeRequest, res: NodeResponse, pathname: string): boolean;
}

export interface LeanUnaryOptions {
  methods: readonly PublicMethod[];
  edge: Edge;
  readMaxBytes: number;
  /** connect-node's `maxTimeoutMs`: a longer caller deadline is INVALID_ARGUMENT. */
  maxTimeoutMs: number;
  /** Aborts every call in flight (as connect-node's `shutdownSignal`). */
  shutdownSignal: AbortSignal;
}

/** connect-node's defaults, which the adapter uses too. */
const ACCEPT_COMPRESSION: Compression[] = [compressionGzip, compressionBrotli];
const COMPRESS_MIN_BYTES = 1024;
const WRITE_MAX_BYTES = 0xffffffff;
const GRPC_BINARY = /^application\/grpc(?:\+proto)?$/i;
const GRPC_CONTENT_TYPE = "application/grpc+proto";

interface Route {
  method: PublicMethod;
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

function header(req: NodeRequest, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

/** One call's cancellation: the caller's deadline, its departure, or the gateway's shutdown. */
class CallSignal {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  /** `live`: the calls in flight, which the gateway's shutdown cancels (see `createLeanUnary`). */
  constructor(
    private readonly live: Set<CallSignal>,
    shuttingDown: boolean,
    timeoutMs: number | undefined,
  ) {
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);
    }
    if (shuttingDown) this.shutDown();
    else live.add(this);
  }
  /** The gateway is shutting down: cancels the upstream call. */
  shutDown(): void {
    this.controller.abort(new ConnectError("the server is shutting down", Code.Canceled));
  }
  /** The caller left: cancels the upstream call unless it is already over (the error is built only then: a stack each). */
  left(): void {
    if (!this.finished) this.controller.abort(new ConnectError("the client went away", Code.Canceled));
  }
  /** The upstream call is over (the answer is being written). */
  done(): void {
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.live.delete(this);
  }
}

/** Collects a request body (at most `limit` bytes are kept; `over` tells whether more came). */
function collect(req: NodeRequest, limit: number): Promise<{ body: Uint8Array; over: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (chunk: Buffer) => {
      if (over) return;
      size += chunk.byteLength;
      chunks.push(chunk);
      if (size > limit) {
        over = true;
        finish();
      }
    };
    const detach = () => {
      req.off("data", onData);
      req.off("end", finish);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const finish = () => {
      detach();
      resolve({ body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size), over });
    };
    const onError = (error: Error) => {
      detach();
      reject(new ConnectError(error.message, Code.Canceled));
    };
    // A caller that leaves before its body is complete (a reset stream, a closed connection).
    const onClose = () => onError(new Error("the client went away before its request was complete"));
    req.on("data", onData);
    req.once("end", finish);
    req.once("error", onError);
    req.once("close", onClose);
  });
}

/** readAllBytes' checks and messages (connect-node's unary Connect body). */
function checkConnectBody(body: Uint8Array, over: boolean, readMaxBytes: number, lengthHint: string | null): void {
  const hint = lengthHint === null ? Number.NaN : Number.parseInt(lengthHint, 10);
  if (Number.isSafeInteger(hint) && hint >= 0) {
    if (hint > readMaxBytes) {
      throw new ConnectError(`message size ${hint} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
    }
    if (body.byteLength !== hint) {
      throw new ConnectError(`protocol error: promised ${hint} bytes, received ${body.byteLength}`, Code.InvalidArgument);
    }
    return;
  }
  if (over) throw new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
}

/** `bytes`, checked to be a message of the method's input type (connect's parse error otherwise), to forward as they are. */
function checkedInput(route: Route, bytes: Uint8Array): Uint8Array {
  route.serialization.getI(true).parse(bytes);
  return bytes;
}

/**
 * The one request message of a gRPC unary body, with connect's envelope checks and messages, as
 * bytes to forward: checked to be a message of the method's input type, not re-encoded.
 */
async function grpcRequest(body: Uint8Array, route: Route, compression: Compression | null, readMaxBytes: number): Promise<Uint8Array> {
  // The common case, checked in place: exactly one uncompressed envelope within the limit.
  if (body.byteLength >= 5 && body[0] === 0) {
    const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
    if (length <= readMaxBytes && body.byteLength === length + 5) {
      return checkedInput(route, body.subarray(5));
    }
  }
  // Anything else goes through connect's own envelope pipeline: the same errors as the adapter.
  const it = pipe(
    createAsyncIterable([body]),
    transformSplitEnvelope(readMaxBytes),
    transformDecompressEnvelope(compression, readMaxBytes),
    transformParseEnvelope(route.serialization.getI(true)),
  )[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  const extra = await it.next();
  if (extra.done !== true) throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);
  return route.serialization.getI(true).serialize(first.value);
}

function asConnectError(error: unknown): ConnectError {
  return error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
}

function nodeHeaders(headers: Headers, into: Record<string, string>): Record<string, string> {
  headers.forEach((value, key) => {
    into[key] = value;
  });
  return into;
}

export function createLeanUnary(options: LeanUnaryOptions): LeanUnary {
  const routes = new Map<string, Route>();
  const limits = { readMaxBytes: options.readMaxBytes, writeMaxBytes: WRITE_MAX_BYTES, compressMinBytes: COMPRESS_MIN_BYTES };
  for (const method of options.methods) {
    if (method.method.methodKind !== "unary") continue;
    routes.set(method.path, { method, serialization: createMethodSerializationLookup(method.method, undefined, undefined, limits) });
  }
  const { edge, readMaxBytes, maxTimeoutMs, shutdownSignal } = options;
  // The calls in flight, cancelled together at shutdown: one listener on the shutdown signal rather
  // than one per call (an AbortSignal's addEventListener scans its listeners: O(calls in flight) each).
  const live = new Set<CallSignal>();
  shutdownSignal.addEventListener(
    "abort",
    () => {
      for (const call of live) call.shutDown();
      live.clear();
    },
    { once: true },
  );

  /** The edge's view of a call whose request is `request` (a message, or its bytes to forward as they are). */
  function callOf<Request>(req: NodeRequest, route: Route, request: Request, signal: CallSignal, timeoutMs: number | undefined) {
    return {
      method: route.method,
      request,
      authorization: header(req, "authorization"),
      traceparent: header(req, "traceparent"),
      tracestate: header(req, "tracestate"),
      remoteAddress: req.socket.remoteAddress ?? "unknown",
      forwardedFor: header(req, "x-forwarded-for"),
      signal: signal.controller.signal,
      timeoutMs,
    };
  }

  /**
   * The caller leaving (an HTTP/1.1 connection closed, an HTTP/2 stream reset) while the upstream
   * call runs cancels it. On HTTP/2 the stream's close says so (the compatibility response reports
   * itself finished once its stream is gone); on HTTP/1.1 the response's, as connect-node listens.
   */
  function watchCaller(req: NodeRequest, res: NodeResponse, signal: CallSignal): void {
    const onClose = () => signal.left();
    if ("stream" in req) req.stream.once("close", onClose);
    else res.once("close", onClose);
  }

  /**
   * What both protocols do first: the caller's deadline (`connect-timeout-ms` or `grpc-timeout`),
   * compression negotiated from the protocol's headers, and the call's cancellation, watching the caller.
   */
  function startCall(req: NodeRequest, res: NodeResponse, protocol: "connect" | "grpc") {
    const grpc = protocol === "grpc";
    const timeout = grpc
      ? parseGrpcTimeout(header(req, "grpc-timeout"), maxTimeoutMs)
      : parseConnectTimeout(header(req, "connect-timeout-ms"), maxTimeoutMs);
    const compression = compressionNegotiate(
      ACCEPT_COMPRESSION,
      header(req, grpc ? "grpc-encoding" : "content-encoding"),
      header(req, grpc ? "grpc-accept-encoding" : "accept-encoding"),
      grpc ? "grpc-accept-encoding" : "accept-encoding",
    );
    const signal = new CallSignal(live, shutdownSignal.aborted, timeout.error ? undefined : timeout.timeoutMs);
    watchCaller(req, res, signal);
    return { timeout, compression, signal };
  }

  async function serveConnect(req: NodeRequest, res: NodeResponse, route: Route, binary: boolean): Promise<void> {
    const { timeout, compression, signal } = startCall(req, res, "connect");
    const responseHeader: Record<string, string> = { "content-type": binary ? "application/proto" : "application/json" };
    let status = 200;
    let body: Uint8Array;
    try {
      if (compression.error) throw compression.error;
      if (timeout.error) throw timeout.error;
      const { body: raw, over } = await collect(req, readMaxBytes);
      checkConnectBody(raw, over, readMaxBytes, header(req, "content-length"));
      const bytes = compression.request ? await compression.request.decompress(raw, readMaxBytes) : raw;
      if (binary) {
        // Forwarded as it came, the answer's bytes likewise.
        body = await edge.unaryBytes(callOf(req, route, checkedInput(route, bytes), signal, timeout.timeoutMs));
      } else {
        const request = route.serialization.getI(false).parse(bytes) as Message;
        body = route.serialization.getO(false).serialize(await edge.unary(callOf(req, route, request, signal, timeout.timeoutMs)));
      }
    } catch (e) {
      const error = asConnectError(e);
      status = codeToHttpStatus(error.code);
      responseHeader["content-type"] = "application/json";
      if (!error.isWireError) {
        const merged = new Headers();
        mergeNonProtocolHeaders(merged, error.metadata);
        nodeHeaders(merged, responseHeader);
      }
      body = errorToJsonBytes(error, undefined);
    } finally {
      signal.done();
    }
    if (compression.response && body.byteLength >= COMPRESS_MIN_BYTES) {
      body = await compression.response.compress(body);
      responseHeader["content-encoding"] = compression.response.name;
    }
    responseHeader["content-length"] = String(body.byteLength);
    if (res.destroyed) return;
    res.writeHead(status, responseHeader);
    res.end(body);
  }

  async function serveGrpc(req: NodeRequest, res: NodeResponse, route: Route): Promise<void> {
    const { timeout, compression, signal } = startCall(req, res, "grpc");
    const responseHeader: Record<string, string> = { "content-type": GRPC_CONTENT_TYPE };
    if (compression.response) responseHeader["grpc-encoding"] = compression.response.name;
    let frame: Buffer | undefined;
    let failure: ConnectError | undefined;
    try {
      if (compression.error) throw compression.error;
      if (timeout.error) throw timeout.error;
      const { body } = await collect(req, readMaxBytes + 5);
      const request = await grpcRequest(body, route, compression.request, readMaxBytes);
      let data = await edge.unaryBytes(callOf(req, route, request, signal, timeout.timeoutMs));
      let flags = 0;
      if (compression.response && data.byteLength >= COMPRESS_MIN_BYTES) {
        data = await compression.response.compress(data);
        flags = 1;
      }
      // From node's buffer pool (an answer under 4 KiB is a slice of it, not an allocation of its own).
      frame = Buffer.allocUnsafe(data.byteLength + 5);
      frame[0] = flags;
      frame.writeUInt32BE(data.byteLength, 1);
      frame.set(data, 5);
    } catch (e) {
      failure = asConnectError(e);
    } finally {
      signal.done();
    }
    // gRPC is only served here over HTTP/2 (`serve`): the answer goes straight onto the stream.
    const stream = (res as Http2ServerResponse).stream;
    if (stream.destroyed || stream.closed) return; // the caller left meanwhile
    let trailer: Record<string, string> = { "grpc-status": "0" };
    if (failure) {
      const status = new Headers();
      setTrailerStatus(status, failure);
      trailer = nodeHeaders(status, {});
    }
    // What writeHead/write/end would send (headers already set, e.g. CORS, included), without the
    // compatibility layer's per-header checks: ours are constants and connect's trailer fields.
    // The response object sends its trailers when the stream asks for them.
    res.addTrailers(trailer);
    stream.respond({ ...(res as Http2ServerResponse).getHeaders(), ...responseHeader, ":status": 200 }, { waitForTrailers: true });
    if (frame) stream.end(frame);
    else stream.end();
  }

  return {
    serve(req, res, pathname) {
      if (req.method !== "POST") return false;
      const route = routes.get(pathname);
      if (route === undefined) return false;
      const contentType = header(req, "content-type") ?? "";
      let work: Promise<void>;
      if (GRPC_BINARY.test(contentType)) {
        if (req.httpVersion !== "2.0") return false;
        work = serveGrpc(req, res, route);
      } else {
        if (!contentTypeUnaryRegExp.test(contentType)) return false;
        work = serveConnect(req, res, route, /proto$/i.test(contentType));
      }
      work.catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return true;
    },
  };
}
