import type { Message } from "@bufbuild/protobuf";
import { type ConnectRouter, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Edge, EdgeCall } from "../edge/edge.js";
import type { PublicMethod } from "./public-surface.js";

/** The caller's socket address, put into each Connect call's context by the adapter. */
export const remoteAddressKey = createContextKey<string>("unknown", { description: "caller IP" });

function edgeCall(method: PublicMethod, request: Message, ctx: HandlerContext): EdgeCall {
  return {
    method,
    request,
    authorization: ctx.requestHeader.get("authorization"),
    traceparent: ctx.requestHeader.get("traceparent"),
    tracestate: ctx.requestHeader.get("tracestate"),
    remoteAddress: ctx.values.get(remoteAddressKey),
    forwardedFor: ctx.requestHeader.get("x-forwarded-for"),
    signal: ctx.signal,
    timeoutMs: ctx.timeoutMs(),
  };
}

/**
 * Registers exactly the public methods on a Connect router (Connect, gRPC-Web and gRPC), each
 * forwarding through the edge. Unregistered methods never get a handler, so they fall through to
 * the adapter's fallback (NOT_FOUND) instead of an UNIMPLEMENTED stub that would reveal them.
 */
export function registerPublicMethods(router: ConnectRouter, methods: readonly PublicMethod[], edge: Edge): void {
  for (const method of methods) {
    switch (method.method.methodKind) {
      case "unary":
        router.rpc(method.method, ((request: Message, ctx: HandlerContext) => edge.unary(edgeCall(method, request, ctx))) as never);
        break;
      case "server_streaming":
        router.rpc(method.method, ((request: Message, ctx: HandlerContext) => edge.stream(edgeCall(method, request, ctx))) as never);
        break;
      default:
        // No client- or bidi-streaming method is public today; refuse to expose one silently.
        throw new Error(`${method.path}: ${method.method.methodKind} methods are not supported by the gateway`);
    }
  }
}
