import type {
  DescMethod,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  credentials,
  type CallOptions as GrpcCallOptions,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { type Context, context, propagation, SpanKind, SpanStatusCode, type TextMapSetter, trace } from "@opentelemetry/api";
import type { Logger } from "pino";
import { incomingCallIn, type ServerSurfaceCall } from "../adapter/call-context.js";
import { deserializerFor, methodPath, serializerFor } from "../adapter/serialization.js";
import { fromServiceError } from "../adapter/status.js";
import { clientMethodMetrics, codeName } from "../observability/metrics.js";
import { enableContextPropagation, initTracing, platformTracer, type RpcSpanTemplate, rpcSpanTemplate } from "../observability/tracing.js";
import { type MeshTlsConfig, meshChannelCredentials, meshServerIdentityCheck, meshTlsSource, readMeshIdentity } from "../tls/mesh-tls.js";
import { channelOptions, DEFAULT_RETRY, type RetryOptions } from "./channel-options.js";
import { type BreakerOptions, createTargetBreaker, DEFAULT_BREAKER, type DeadlineOwner, type TargetBreaker } from "./circuit-breaker.js";
import { Http2SessionPool } from "./http2-session-pool.js";
import { http2Unary, isCommitted } from "./http2-unary.js";
import { retryingUnary } from "./unary-retry.js";

/** Per-call options of a client method. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** This call's own budget: deadline from now; defaults to the client's `defaultTimeoutMs` (unary) or none (streams). */
  timeoutMs?: number;
  /**
   * The time the original caller still gives this call (e.g. the `grpc-timeout` a caller sent to
   * an edge): caps the deadline as a parent call's deadline does. A DEADLINE_EXCEEDED under a deadline
   * the caller set (this, or the parent's, shorter than `timeoutMs`) is the caller's: the breaker
   * does not count it.
   */
  callerTimeoutMs?: number;
  /** Extra request metadata. */
  headers?: Record<string, string> | Headers;
  /**
   * The OpenTelemetry context to call in: its span is the trace parent, and a platform call it
   * carries caps the deadline. Defaults to the active context (see `implicitContext`).
   */
  context?: Context;
}

/** How a client behaves; every field has a production default. */
export interface ClientOptions {
  /** Deadline of a unary call without `timeoutMs` (default 5000). */
  defaultTimeoutMs?: number;
  /** Retries on UNAVAILABLE (grpc-js: through the service config; http2: the platform's loop, same policy); `false` disables. */
  retry?: Partial<RetryOptions> | false;
  /** Circuit breaker for this target; `false` disables. */
  breaker?: Partial<BreakerOptions> | false;
  /** Keep-alive ping interval (default 30000) and ack timeout (default 10000). */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Message size limit both ways (default 4 MiB). */
  maxMessageBytes?: number;
  /**
   * What carries unary calls: `"grpc-js"` (its channel, as streams always use), or `"http2"` (the
   * platform's lean unary transport on pooled node:http2 sessions: same wire, deadlines, retries,
   * metadata, mTLS check; about half of grpc-js's client CPU per call at c=16). `channelOptions` apply
   * to grpc-js only. Default "grpc-js".
   */
  transport?: ClientTransport;
  /** Extra grpc-js channel options (override the above). */
  channelOptions?: ChannelOptions;
  /**
   * mTLS with the workload's mesh certificate (its `ServiceConfig.tls`); `server` names the workload
   * the target must prove to be (`spiffe://<trust domain>/<server>`). Absent, or `tls.enabled` false:
   * plaintext.
   */
  mesh?: { tls: MeshTlsConfig; server?: string };
  /** Logger for failed calls (debug for each call). */
  logger?: Logger;
  /**
   * Take the trace parent and the incoming call from the active context (default true), which
   * turns on AsyncLocalStorage for the process (`enableContextPropagation`). `false` for a caller
   * that passes `CallOptions.context` itself, as the gateway does, and would rather not pay for it.
   */
  implicitContext?: boolean;
}

/** The transports a client's unary calls can run on. */
export type ClientTransport = "grpc-js" | "http2";

/**
 * A unary method's call with the request and the answer as serialized protobuf (unframed, the answer
 * decompressed): for a hop that forwards what it received without decoding it — the same deadline,
 * retries, breaker, metadata, span and metrics as the typed call.
 */
export type UnaryBytesCall = (request: Uint8Array, options?: CallOptions) => Promise<Uint8Array>;

type UnaryMethod<M> =
  M extends DescMethodUnary<infer I, infer O>
    ? ((init: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>) & {
        /** Always there on a client `createClient` made; optional so that a stand-in (e.g. a Connect client in a test) fits the type. */
        bytes?: UnaryBytesCall;
      }
    : never;
type StreamMethod<M> =
  M extends DescMethodServerStreaming<infer I, infer O>
    ? (init: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
    : never;

/** A typed promise client: one function per unary or server-streaming method, plus `close()`. */
export type GrpcClient<S extends DescService> = {
  [P in keyof S["method"]]: S["method"][P] extends DescMethodUnary ? UnaryMethod<S["method"][P]> : StreamMethod<S["method"][P]>;
} & {
  /** Closes the channel; calls in flight fail with CANCELLED/UNAVAILABLE. */
  close(): void;
};

const metadataSetter: TextMapSetter<Metadata> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

const breakers = new Map<string, TargetBreaker>();

/** One breaker per target, shared by every client of that target in the process. */
function breakerFor(target: string, options: Partial<BreakerOptions>): TargetBreaker {
  let breaker = breakers.get(target);
  if (!breaker) {
    breaker = createTargetBreaker(target, { ...DEFAULT_BREAKER, ...options });
    breakers.set(target, breaker);
  }
  return breaker;
}

/** Request metadata: caller's headers, the incoming `x-user-id`, and the trace context. */
function requestMetadata(headers: CallOptions["headers"], incoming: Metadata | undefined): Metadata {
  const metadata = new Metadata();
  if (headers) {
    const entries = headers instanceof Headers ? headers.entries() : Object.entries(headers);
    for (const [key, value] of entries) metadata.set(key, value);
  }
  if (incoming && metadata.get("x-user-id").length === 0) {
    const userId = incoming.get("x-user-id")[0];
    if (userId !== undefined) metadata.set("x-user-id", userId);
  }
  return metadata;
}

/**
 * Creates a typed client for `service` at `target` (`127.0.0.1:50061` or `dns:///billing:50061`)
 * calling grpc-js directly: default deadline, retries on UNAVAILABLE, a circuit breaker,
 * keep-alive, round_robin, client metrics and spans. Inside a handler, the incoming call's deadline
 * caps each call's deadline, its cancellation cancels the call, and `x-user-id` + `traceparent`
 * are passed on. Errors are `ConnectError`s with their `google.rpc` details.
 */
export function createClient<S extends DescService>(service: S, target: string, options: ClientOptions = {}): GrpcClient<S> {
  initTracing(service.typeName);
  if (options.implicitContext !== false) enableContextPropagation(); // the incoming call and trace parent ride in the active context
  const retry = options.retry === false ? false : { ...DEFAULT_RETRY, ...options.retry };
  // SNI names the workload expected (a target's host may be an IP, which SNI must not carry);
  // the server is checked by its SPIFFE ID, not by this name.
  const tlsName: ChannelOptions = options.mesh?.tls.enabled ? { "grpc.ssl_target_name_override": options.mesh.server ?? "mesh" } : {};
  const channel = new Client(
    target,
    channelCredentials(options.mesh),
    channelOptions(service, {
      retry,
      keepaliveTimeMs: options.keepaliveTimeMs ?? 30_000,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 10_000,
      maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
      extra: { ...tlsName, ...options.channelOptions },
    }),
  );
  const breaker = options.breaker === false ? undefined : breakerFor(target, options.breaker ?? {});
  const pool = options.transport === "http2" ? sessionPool(target, options) : undefined;
  const settings: MethodSettings = {
    channel,
    target,
    breaker,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 5_000,
    logger: options.logger,
    pool,
    retry,
    maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
  };
  const client: Record<string, unknown> = {
    close: () => {
      channel.close();
      pool?.close();
    },
  };
  for (const method of service.methods) {
    if (method.methodKind === "unary") {
      const typed = unaryMethod(method, settings, typedCodec(method));
      client[method.localName] = Object.assign(typed, { bytes: unaryMethod(method, settings, BYTES_CODEC) });
    } else if (method.methodKind === "server_streaming") client[method.localName] = streamMethod(method, settings);
  }
  return client as GrpcClient<S>;
}

const trustDomains = new Map<string, string>();

/** The workload's trust domain, read once per certificate folder. */
function trustDomainOf(tls: MeshTlsConfig): string {
  const trustDomain = trustDomains.get(tls.dir) ?? readMeshIdentity(tls).id.trustDomain;
  trustDomains.set(tls.dir, trustDomain);
  return trustDomain;
}

/** Plaintext, or mTLS presenting the workload's certificate. */
function channelCredentials(mesh: ClientOptions["mesh"]): ChannelCredentials {
  if (!mesh?.tls.enabled) return credentials.createInsecure();
  return meshChannelCredentials(mesh.tls, trustDomainOf(mesh.tls), mesh.server);
}

/** The http2 transport's sessions: plaintext, or mTLS with the same certificate and SPIFFE check as the grpc-js channel. */
function sessionPool(target: string, options: ClientOptions): Http2SessionPool {
  const mesh = options.mesh;
  return new Http2SessionPool(target, {
    keepaliveTimeMs: options.keepaliveTimeMs ?? 30_000,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 10_000,
    ...(mesh?.tls.enabled
      ? {
          tls: {
            source: meshTlsSource(mesh.tls),
            servername: mesh.server ?? "mesh",
            checkServerIdentity: meshServerIdentityCheck(trustDomainOf(mesh.tls), mesh.server),
          },
        }
      : {}),
  });
}

interface MethodSettings {
  channel: Client;
  target: string;
  breaker: TargetBreaker | undefined;
  defaultTimeoutMs: number;
  logger: Logger | undefined;
  /** The http2 transport's sessions; undefined: unary calls run on grpc-js. */
  pool: Http2SessionPool | undefined;
  retry: RetryOptions | false;
  maxMessageBytes: number;
}

/** A call's deadline (absolute ms; Infinity for none) and who set it: its own budget, or its caller. */
function deadlineOf(budgetMs: number | undefined, callerTimeoutMs: number | undefined, parent: ServerSurfaceCall | undefined) {
  const now = Date.now();
  const budget = budgetMs === undefined ? Infinity : now + budgetMs;
  const parentDeadline = parent?.getDeadline() ?? Infinity;
  const callers = Math.min(callerTimeoutMs === undefined ? Infinity : now + callerTimeoutMs, Number(parentDeadline));
  const owner: DeadlineOwner = callers !== Infinity && callers <= budget ? "caller" : "budget";
  return { deadline: Math.min(budget, callerTimeoutMs === undefined ? Infinity : now + callerTimeoutMs), owner };
}

/** A method's CLIENT span, naming the target it calls. */
function spanTemplate(method: DescMethod, settings: MethodSettings): RpcSpanTemplate {
  return rpcSpanTemplate(SpanKind.CLIENT, method.parent.typeName, method.name, { "server.address": settings.target });
}

/** Deadline, parent call and traced metadata shared by both call kinds. */
function prepare(spanOf: RpcSpanTemplate, options: CallOptions | undefined, timeoutMs: number | undefined) {
  const active = options?.context ?? context.active();
  const incoming = incomingCallIn(active);
  const metadata = requestMetadata(options?.headers, incoming?.call.metadata);
  const span = platformTracer().startSpan(spanOf.name, spanOf.options, active);
  propagation.inject(trace.setSpan(active, span), metadata, metadataSetter);
  const callOptions: GrpcCallOptions = {};
  const { deadline, owner } = deadlineOf(timeoutMs, options?.callerTimeoutMs, incoming?.call);
  if (deadline !== Infinity) callOptions.deadline = deadline;
  // grpc-js caps the deadline with the parent's and cancels with it (Propagate.DEFAULTS).
  if (incoming) callOptions.parent = incoming.call;
  return { metadata, span, callOptions, deadlineOwner: owner };
}

function endSpan(span: ReturnType<typeof prepare>["span"], code: number): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName(code) });
  span.end();
}

const recordSetter: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/** The http2 transport's request metadata: as `requestMetadata`, in a plain record. */
function requestHeaders(headers: CallOptions["headers"], incoming: Metadata | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers) {
    const entries = headers instanceof Headers ? headers.entries() : Object.entries(headers);
    for (const [key, value] of entries) record[key.toLowerCase()] = value;
  }
  if (incoming && record["x-user-id"] === undefined) {
    const userId = incoming.get("x-user-id")[0];
    if (typeof userId === "string") record["x-user-id"] = userId;
  }
  return record;
}

/** How a unary method's request becomes bytes on the wire and the answer's bytes a result. */
interface UnaryCodec {
  serialize(value: unknown): Buffer;
  deserialize(bytes: Buffer): unknown;
}

/** Messages of the method's types (a request may be its init shape). */
function typedCodec(method: DescMethod): UnaryCodec {
  return { serialize: serializerFor(method.input), deserialize: deserializerFor(method.output) };
}

/** Bytes as they are: the caller serialized the request and takes the answer's bytes. */
const BYTES_CODEC: UnaryCodec = {
  serialize: (value) => {
    const bytes = value as Uint8Array;
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
  deserialize: (bytes) => bytes,
};

/**
 * A unary method on the platform's http2 transport: the same deadline (capped by the parent's),
 * metadata, span, metrics, logging and breaker as on grpc-js; retries on UNAVAILABLE within the
 * deadline (one span and one metric sample per call, as grpc-js's retries).
 */
function http2UnaryMethod(method: DescMethod, settings: MethodSettings, pool: Http2SessionPool, codec: UnaryCodec) {
  const path = methodPath(method);
  const { serialize, deserialize } = codec;
  const metrics = clientMethodMetrics(settings.target, method.parent.typeName, method.name);
  const spanOf = spanTemplate(method, settings);
  const { breaker, logger, retry, maxMessageBytes } = settings;

  const call = async (init: unknown, options: CallOptions | undefined, seen?: { deadline: DeadlineOwner }): Promise<unknown> => {
    const started = performance.now();
    const active = options?.context ?? context.active();
    const incoming = incomingCallIn(active);
    const metadata = requestHeaders(options?.headers, incoming?.call.metadata);
    const span = platformTracer().startSpan(spanOf.name, spanOf.options, active);
    propagation.inject(trace.setSpan(active, span), metadata, recordSetter);
    const { deadline: own, owner } = deadlineOf(options?.timeoutMs ?? settings.defaultTimeoutMs, options?.callerTimeoutMs, incoming?.call);
    if (seen) seen.deadline = owner;
    const deadline = Math.min(own, incoming ? Number(incoming.call.getDeadline()) : Infinity);
    const signal = options?.signal;
    let code = 0;
    try {
      const request = { path, metadata, message: serialize(init), deadline, signal, parent: incoming?.call, maxMessageBytes };
      const bytes = await retryingUnary(() => http2Unary(pool, request), retry, deadline, signal, isCommitted);
      return deserialize(bytes);
    } catch (error) {
      const connectError =
        error instanceof ConnectError ? error : new ConnectError(`message serialization failure: ${String(error)}`, Code.Internal);
      code = connectError.code;
      logger?.debug(
        { target: settings.target, method: path, code: codeName(code), message: connectError.rawMessage },
        "outgoing rpc failed",
      );
      throw connectError;
    } finally {
      metrics.record(code, (performance.now() - started) / 1000);
      endSpan(span, code);
    }
  };

  return behindBreaker(breaker, call);
}

function unaryMethod(method: DescMethod, settings: MethodSettings, codec: UnaryCodec) {
  if (settings.pool) return http2UnaryMethod(method, settings, settings.pool, codec);
  const path = methodPath(method);
  const { serialize, deserialize } = codec;
  const metrics = clientMethodMetrics(settings.target, method.parent.typeName, method.name);
  const spanOf = spanTemplate(method, settings);
  const { channel, breaker, logger } = settings;

  const attempt = (init: unknown, options: CallOptions | undefined, seen?: { deadline: DeadlineOwner }): Promise<unknown> => {
    const started = performance.now();
    const { metadata, span, callOptions, deadlineOwner } = prepare(spanOf, options, options?.timeoutMs ?? settings.defaultTimeoutMs);
    if (seen) seen.deadline = deadlineOwner;
    return new Promise((resolve, reject) => {
      const signal = options?.signal;
      const onAbort = () => call.cancel();
      const call = channel.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        init,
        metadata,
        callOptions,
        (error: ServiceError | null, response?: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          const code = error ? error.code : 0;
          metrics.record(code, (performance.now() - started) / 1000);
          endSpan(span, code);
          if (error) {
            const connectError = fromServiceError(error);
            logger?.debug(
              { target: settings.target, method: path, code: codeName(code), message: connectError.rawMessage },
              "outgoing rpc failed",
            );
            reject(connectError);
          } else resolve(response);
        },
      );
      if (signal) {
        if (signal.aborted) call.cancel();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  };

  return behindBreaker(breaker, attempt);
}

type UnaryCall = (init: unknown, options: CallOptions | undefined, seen?: { deadline: DeadlineOwner }) => Promise<unknown>;

/** A unary method behind the target's breaker (if any), which learns from `seen` whose deadline a DEADLINE_EXCEEDED was. */
function behindBreaker(breaker: TargetBreaker | undefined, call: UnaryCall) {
  if (!breaker) return (init: unknown, options?: CallOptions) => call(init, options);
  return (init: unknown, options?: CallOptions) => {
    const seen: { deadline: DeadlineOwner } = { deadline: "budget" };
    return breaker.execute(
      () => call(init, options, seen),
      () => seen.deadline,
    );
  };
}

function streamMethod(method: DescMethod, settings: MethodSettings) {
  const path = methodPath(method);
  const serialize = serializerFor(method.input);
  const deserialize = deserializerFor(method.output);
  const metrics = clientMethodMetrics(settings.target, method.parent.typeName, method.name);
  const spanOf = spanTemplate(method, settings);
  return async function* (init: unknown, options?: CallOptions): AsyncGenerator<unknown> {
    if (settings.breaker && settings.breaker.state === 1 /* Open */) {
      throw new ConnectError(`circuit open for ${settings.target}: failing fast`, Code.Unavailable);
    }
    const started = performance.now();
    const { metadata, span, callOptions } = prepare(spanOf, options, options?.timeoutMs);
    const call = settings.channel.makeServerStreamRequest(path, serialize, deserialize, init, metadata, callOptions);
    const signal = options?.signal;
    const onAbort = () => call.cancel();
    if (signal) {
      if (signal.aborted) call.cancel();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    let code = 0;
    try {
      for await (const message of call) yield message;
    } catch (error) {
      const connectError = fromServiceError(error as ServiceError);
      code = connectError.code;
      throw connectError;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      call.cancel();
      metrics.record(code, (performance.now() - started) / 1000);
      endSpan(span, code);
    }
  };
}
