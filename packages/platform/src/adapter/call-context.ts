import type { ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { type Context, context, createContextKey } from "@opentelemetry/api";

/** A grpc-js server call that can be the `parent` of outgoing calls. */
export type ServerSurfaceCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/**
 * The incoming call a handler is serving. It rides in the OpenTelemetry context, whose manager
 * is AsyncLocalStorage, so one store carries both the span and the call to outgoing clients.
 */
export interface IncomingCall {
  /** The grpc-js call: outgoing calls use it as `parent` (deadline cap + cancellation). */
  readonly call: ServerSurfaceCall;
}

const INCOMING_CALL = createContextKey("shop.platform.incoming-call");

/** Returns `ctx` with the incoming call attached. */
export function withIncomingCall(ctx: Context, call: ServerSurfaceCall): Context {
  return ctx.setValue(INCOMING_CALL, { call } satisfies IncomingCall);
}

/** The incoming call attached to `ctx`, if any. */
export function incomingCallIn(ctx: Context): IncomingCall | undefined {
  return ctx.getValue(INCOMING_CALL) as IncomingCall | undefined;
}

/** The incoming call being served in the current async context, if any. */
export function currentIncomingCall(): IncomingCall | undefined {
  return incomingCallIn(context.active());
}
