import type { Message } from "@bufbuild/protobuf";
import { resourceExhausted, unauthenticated } from "@shop/platform";
import type { PublicMethod } from "../surface/public-surface.js";
import type { Upstreams } from "../upstreams.js";
import type { RateLimiter } from "./rate-limiter.js";
import type { TokenVerifier } from "./token-verifier.js";
import { endEdgeSpan, startEdgeSpan } from "./trace-context.js";

/** One call crossing the edge, whichever protocol (Connect, gRPC-Web, gRPC, REST) carried it. */
export interface EdgeCall {
  method: PublicMethod;
  request: Message;
  /** The caller's `Authorization` header. */
  authorization: string | null;
  traceparent: string | null;
  tracestate: string | null;
  /** The caller's IP: the rate-limit key when anonymous. */
  remoteAddress: string;
  signal: AbortSignal;
  /** The caller's own deadline, if it sent one. */
  timeoutMs: number | undefined;
}

/** What the edge needs to admit and forward calls. */
export interface EdgeDeps {
  verifier: TokenVerifier;
  limiter: RateLimiter;
  upstreams: Upstreams;
  limits: { unaryMaxTimeoutMs: number; streamMaxTimeoutMs: number };
  /** Services whose public methods anonymous callers may use (the product catalogue). */
  anonymousServices: ReadonlySet<string>;
}

/** Admits (auth, rate limit) and forwards public calls upstream. */
export interface Edge {
  unary(call: EdgeCall): Promise<Message>;
  stream(call: EdgeCall): AsyncIterable<Message>;
}

/** Creates the edge: the one place that decides who may call, how often, and with which headers upstream. */
export function createEdge(deps: EdgeDeps): Edge {
  async function admit(call: EdgeCall, maxTimeoutMs: number, context: ReturnType<typeof startEdgeSpan>["context"]) {
    const user = await deps.verifier.verify(call.authorization);
    if (user === undefined && !deps.anonymousServices.has(call.method.service.typeName)) {
      throw unauthenticated("MISSING_TOKEN", "this method needs a bearer token (Authorization: Bearer <token>)");
    }
    const decision = await deps.limiter.take(user !== undefined ? `user:${user}` : `ip:${call.remoteAddress}`);
    if (!decision.allowed) throw resourceExhausted("RATE_LIMITED", "rate limit exceeded; retry later", decision.retryAfterMs);
    // Only the verified subject becomes x-user-id: whatever the caller sent is never copied.
    // traceparent is injected by the platform client from `context`: this call's SERVER span, in the caller's trace or a new one.
    const headers: Record<string, string> = {};
    if (user !== undefined) headers["x-user-id"] = user;
    const timeoutMs = Math.min(call.timeoutMs ?? maxTimeoutMs, maxTimeoutMs);
    return { signal: call.signal, timeoutMs, headers, context };
  }
  const edgeSpan = (call: EdgeCall) =>
    startEdgeSpan({ service: call.method.service.typeName, name: call.method.method.name }, call.traceparent, call.tracestate);
  return {
    async unary(call) {
      const { span, context } = edgeSpan(call);
      try {
        const options = await admit(call, deps.limits.unaryMaxTimeoutMs, context);
        const upstream = deps.upstreams.method(call.method.service, call.method.method.localName);
        const response = (await upstream(call.request, options)) as Message;
        endEdgeSpan(span);
        return response;
      } catch (error) {
        endEdgeSpan(span, error);
        throw error;
      }
    },
    async *stream(call) {
      const { span, context } = edgeSpan(call);
      let failure: unknown;
      try {
        const options = await admit(call, deps.limits.streamMaxTimeoutMs, context);
        const upstream = deps.upstreams.method(call.method.service, call.method.method.localName);
        yield* upstream(call.request, options) as AsyncIterable<Message>;
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        endEdgeSpan(span, failure); // also when the caller leaves the stream early
      }
    },
  };
}
