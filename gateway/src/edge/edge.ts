import type { BlockList } from "node:net";
import type { Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { SpanKind } from "@opentelemetry/api";
import { deadlineExceeded, type Logger, type RpcSpanTemplate, resourceExhausted, rpcSpanTemplate, unauthenticated } from "@shop/platform";
import type { PublicMethod } from "../surface/public-surface.js";
import type { UpstreamCallOptions, UpstreamMethod, Upstreams } from "../upstreams.js";
import { clientAddress } from "./client-address.js";
import { CLIENT_CODES, publicError } from "./public-error.js";
import type { RateLimiter } from "./rate-limiter.js";
import type { TokenVerifier } from "./token-verifier.js";
import { endEdgeSpan, startEdgeSpan } from "./trace-context.js";

/**
 * One call crossing the edge, whichever protocol (Connect, gRPC-Web, gRPC, REST) carried it; its
 * request a message, or (`unaryBytes`) the serialized message as the caller sent it.
 */
export interface EdgeCall<Request = Message> {
  method: PublicMethod;
  request: Request;
  /** The caller's `Authorization` header. */
  authorization: string | null;
  traceparent: string | null;
  tracestate: string | null;
  /** The socket's peer address: the caller's, unless a trusted proxy is (see `forwardedFor`). */
  remoteAddress: string;
  /** The X-Forwarded-For header: believed only as far as `EdgeDeps.trustedProxies` allow (edge/client-address.ts). */
  forwardedFor: string | null;
  signal: AbortSignal;
  /** The caller's own deadline, if it sent one. */
  timeoutMs: number | undefined;
}

/** What the edge needs to admit and forward calls. */
export interface EdgeDeps {
  verifier: TokenVerifier;
  limiter: RateLimiter;
  upstreams: Upstreams;
  /** Deadline caps, and the shortest deadline a caller may ask for (a shorter one is refused before anything else). */
  limits: { unaryMaxTimeoutMs: number; streamMaxTimeoutMs: number; minTimeoutMs: number };
  /** Services whose public methods anonymous callers may use (the product catalogue). */
  anonymousServices: ReadonlySet<string>;
  /** Proxies whose X-Forwarded-For names the caller (GATEWAY_TRUSTED_PROXIES); none: the socket's peer is the caller. */
  trustedProxies?: BlockList | undefined;
  /** Where an upstream failure's own text goes (never to the caller); server-class failures at warn. */
  logger?: Logger;
}

/** Admits (auth, rate limit) and forwards public calls upstream. */
export interface Edge {
  unary(call: EdgeCall): Promise<Message>;
  /**
   * A unary call forwarded undecoded: the request's bytes (a message of the method's input type:
   * the caller has checked that) go upstream as they are, and the answer's bytes come back as the
   * upstream sent them — the same admission, deadline, span and errors as `unary`.
   */
  unaryBytes(call: EdgeCall<Uint8Array>): Promise<Uint8Array>;
  stream(call: EdgeCall): AsyncIterable<Message>;
}

/** Failures a caller causes or is told about in its own terms (and its own cancellations): not worth an operator's warning. */
const CLIENT_SIDE: ReadonlySet<Code> = new Set([...CLIENT_CODES, Code.Canceled]);

/** Creates the edge: the one place that decides who may call, how often, and with which headers upstream. */
export function createEdge(deps: EdgeDeps): Edge {
  async function admit(call: EdgeCall<unknown>, maxTimeoutMs: number, context: ReturnType<typeof startEdgeSpan>["context"]) {
    // A deadline nothing could meet is refused here, at once: it reaches no service and no breaker.
    if (call.timeoutMs !== undefined && call.timeoutMs < deps.limits.minTimeoutMs) {
      throw deadlineExceeded("DEADLINE_TOO_SHORT", `the deadline must be at least ${deps.limits.minTimeoutMs} ms`, {
        min_timeout_ms: String(deps.limits.minTimeoutMs),
      });
    }
    const user = await deps.verifier.verify(call.authorization);
    if (user === undefined && !deps.anonymousServices.has(call.method.service.typeName)) {
      throw unauthenticated("MISSING_TOKEN", "this method needs a bearer token (Authorization: Bearer <token>)");
    }
    const decision = await deps.limiter.take(
      user !== undefined ? `user:${user}` : `ip:${clientAddress(call.remoteAddress, call.forwardedFor, deps.trustedProxies)}`,
    );
    if (!decision.allowed) throw resourceExhausted("RATE_LIMITED", "rate limit exceeded; retry later", decision.retryAfterMs);
    // Only the verified subject becomes x-user-id: whatever the caller sent is never copied.
    // traceparent is injected by the platform client from `context`: this call's SERVER span, in the caller's trace or a new one.
    const headers: Record<string, string> = {};
    if (user !== undefined) headers["x-user-id"] = user;
    // The gateway's own budget is its cap; the caller's deadline rides separately, so that a
    // DEADLINE_EXCEEDED under it is not counted against the upstream by the breaker.
    return { signal: call.signal, timeoutMs: maxTimeoutMs, callerTimeoutMs: call.timeoutMs, headers, context };
  }
  /** The public form of an upstream failure; its own text is logged, not sent. */
  function failed(call: EdgeCall<unknown>, error: unknown): ConnectError {
    // The caller's own deadline or departure ended the call (the upstream call was cancelled with it): say that.
    if (call.signal.aborted) return publicError(call.signal.reason);
    const sent = publicError(error);
    if (!CLIENT_SIDE.has(sent.code)) {
      const raw = ConnectError.from(error);
      deps.logger?.warn({ method: call.method.path, code: Code[raw.code], upstreamMessage: raw.rawMessage }, "upstream call failed");
    }
    return sent;
  }
  const spanTemplates = new Map<PublicMethod, RpcSpanTemplate>();
  const edgeSpan = (call: EdgeCall<unknown>) => {
    let template = spanTemplates.get(call.method);
    if (template === undefined) {
      template = rpcSpanTemplate(SpanKind.SERVER, call.method.service.typeName, call.method.method.name);
      spanTemplates.set(call.method, template);
    }
    return startEdgeSpan(template, call.traceparent, call.tracestate);
  };
  /** Admits a unary call and sends it upstream with `send`: the one unary path, whatever the request's form. */
  async function forwardUnary<Request, Response>(
    call: EdgeCall<Request>,
    send: (upstream: UpstreamMethod, options: UpstreamCallOptions) => Promise<Response>,
  ): Promise<Response> {
    const { span, context } = edgeSpan(call);
    try {
      const options = await admit(call, deps.limits.unaryMaxTimeoutMs, context);
      const upstream = deps.upstreams.method(call.method.service, call.method.method.localName);
      let response: Response;
      try {
        response = await send(upstream, options);
      } catch (error) {
        throw failed(call, error);
      }
      endEdgeSpan(span);
      return response;
    } catch (error) {
      endEdgeSpan(span, error);
      throw error;
    }
  }
  return {
    unary: (call) => forwardUnary(call, (upstream, options) => upstream(call.request, options) as Promise<Message>),
    unaryBytes: (call) =>
      forwardUnary(call, (upstream, options) => {
        if (upstream.bytes === undefined) throw new Error(`${call.method.path}: the upstream client cannot forward bytes`);
        return upstream.bytes(call.request, options);
      }),
    async *stream(call) {
      const { span, context } = edgeSpan(call);
      let failure: unknown;
      try {
        const options = await admit(call, deps.limits.streamMaxTimeoutMs, context);
        const upstream = deps.upstreams.method(call.method.service, call.method.method.localName);
        try {
          yield* upstream(call.request, options) as AsyncIterable<Message>;
        } catch (error) {
          throw failed(call, error);
        }
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        endEdgeSpan(span, failure); // also when the caller leaves the stream early
      }
    },
  };
}
