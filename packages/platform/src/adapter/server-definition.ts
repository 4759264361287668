import type { DescMessage, DescMethod, DescService, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  status as GrpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { context } from "@opentelemetry/api";
import { invalidArgument } from "../errors.js";
import type { CallScope, MethodInstrumentation, ServerInstrumentation } from "../observability/server-instrumentation.js";
import { contextPropagationEnabled } from "../observability/tracing.js";
import type { MethodGate } from "../server/access.js";
import type { RequestCheck } from "../validation/request-validation.js";
import { type ServerSurfaceCall, withIncomingCall } from "./call-context.js";
import { GrpcHandlerContext } from "./handler-context.js";
import { deserializerFor, methodPath, requestDeserializerFor, serializerFor, UndecodableRequest } from "./serialization.js";
import { toWireStatus } from "./status.js";

/** INVALID_ARGUMENT for a request that is not valid protobuf of its type. */
function undecodable(request: UndecodableRequest): ConnectError {
  return invalidArgument(
    [{ field: "", description: `not a valid protobuf message of the method's request type (${request.reason})` }],
    "invalid request: undecodable",
  );
}

/** The gate, then the request's rules: the first refusal of a call, if any. */
function admission(gate: MethodGate, check: RequestCheck, call: ServerSurfaceCall & { request: unknown }): ConnectError | undefined {
  const denied = gate(call);
  if (denied) return denied;
  return call.request instanceof UndecodableRequest ? undecodable(call.request) : check(call.request as Message);
}

/** A grpc-js service definition and its handlers, ready for `server.addService`. */
export interface GrpcService {
  definition: ServiceDefinition;
  handlers: UntypedServiceImplementation;
}

/** Lets the server track streaming calls (to end them at shutdown). */
export interface StreamTracker {
  add(call: ServerWritableStream<unknown, unknown>): void;
  delete(call: ServerWritableStream<unknown, unknown>): void;
}

type AnyFn = (...args: unknown[]) => unknown;

/** Admits every call: for servers without access control. */
const admitAll: MethodGate = () => undefined;
/** Accepts every request: for servers that do not validate. */
const acceptAll: RequestCheck = () => undefined;

/**
 * Turns a protobuf-es service descriptor and a Connect-style implementation into a grpc-js
 * service: unary and server-streaming methods; client and bidi streaming answer UNIMPLEMENTED.
 * `gateOf` decides, per method, which calls reach the handler (access control, before anything else);
 * then `checkOf(method.input)` checks the request (INVALID_ARGUMENT): `serve` passes the platform's
 * `requestCheck` (the `buf.validate` rules); by default every request is accepted.
 */
export function createGrpcService<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  instrumentation: ServerInstrumentation,
  streams?: StreamTracker,
  gateOf: (method: DescMethod) => MethodGate = () => admitAll,
  checkOf: (schema: DescMessage) => RequestCheck = () => acceptAll,
): GrpcService {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const handlers: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, unknown>)[method.localName];
    const streaming = method.methodKind === "server_streaming";
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializerFor(method.input),
      requestDeserialize: requestDeserializerFor(method.input),
      responseSerialize: serializerFor(method.output),
      responseDeserialize: deserializerFor(method.output),
      originalName: method.localName,
    };
    const supported = method.methodKind === "unary" || streaming;
    const call = typeof fn === "function" && supported ? (fn as AnyFn).bind(impl) : undefined;
    const observe = instrumentation.forMethod(method);
    const gate = gateOf(method);
    const check = checkOf(method.input);
    handlers[method.localName] = !call
      ? unimplemented(service, method)
      : streaming
        ? serverStreamingHandler(service, method, call, observe, gate, check, streams)
        : unaryHandler(service, method, call, observe, gate, check);
  }
  return { definition, handlers };
}

function unimplemented(service: DescService, method: DescMethod): UntypedHandleCall {
  const details = `${service.typeName}.${method.name} is not implemented`;
  return ((call: ServerSurfaceCall, callback?: sendUnaryData<unknown>) => {
    const status = { code: GrpcStatus.UNIMPLEMENTED, details };
    if (callback) callback(status);
    else call.emit("error", status);
  }) as UntypedHandleCall;
}

/** The code a call ended with when the client went away before the handler finished. */
function abandonedCode(call: ServerSurfaceCall): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return at <= Date.now() ? GrpcStatus.DEADLINE_EXCEEDED : GrpcStatus.CANCELLED;
}

/**
 * Runs `fn` with the call (and its span) as the active context when something in the process
 * reads it (`enableContextPropagation`); otherwise just runs it, without building contexts.
 */
function inCallContext<T>(scope: CallScope, call: ServerSurfaceCall, fn: () => T): T {
  return contextPropagationEnabled() ? context.with(withIncomingCall(scope.context, call), fn) : fn();
}

function unaryHandler(
  service: DescService,
  method: DescMethod,
  fn: AnyFn,
  observe: MethodInstrumentation,
  gate: MethodGate,
  check: RequestCheck,
): UntypedHandleCall {
  return ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const scope = observe.begin(call.metadata);
    const ctx = new GrpcHandlerContext(service, method, call);
    const fail = (error: unknown) => {
      const status = toWireStatus(error);
      if (call.cancelled) scope.end(abandonedCode(call));
      else scope.end(status.code, error instanceof ConnectError ? undefined : error);
      callback({ code: status.code, details: status.details, metadata: ctx.trailerMetadata(status.metadata) });
    };
    const succeed = (response: unknown) => {
      const headers = ctx.responseMetadata();
      if (headers) call.sendMetadata(headers);
      scope.end(call.cancelled ? abandonedCode(call) : GrpcStatus.OK);
      callback(null, response, ctx.trailerMetadata());
    };
    const denied = admission(gate, check, call);
    if (denied) {
      fail(denied);
      return;
    }
    let result: unknown;
    try {
      result = inCallContext(scope, call, () => fn(call.request, ctx));
    } catch (error) {
      fail(error);
      return;
    }
    if (result instanceof Promise) result.then(succeed, fail);
    else succeed(result);
  }) as UntypedHandleCall;
}

function serverStreamingHandler(
  service: DescService,
  method: DescMethod,
  fn: AnyFn,
  observe: MethodInstrumentation,
  gate: MethodGate,
  check: RequestCheck,
  streams: StreamTracker | undefined,
): UntypedHandleCall {
  return ((call: ServerWritableStream<unknown, unknown>) => {
    const scope = observe.begin(call.metadata);
    const ctx = new GrpcHandlerContext(service, method, call);
    const denied = admission(gate, check, call);
    if (denied) {
      const status = toWireStatus(denied);
      scope.end(status.code);
      call.emit("error", { code: status.code, details: status.details, metadata: status.metadata });
      return;
    }
    streams?.add(call);
    const run = async () => {
      const iterable = fn(call.request, ctx) as AsyncIterable<unknown>;
      let headersSent = false;
      for await (const item of iterable) {
        if (call.cancelled) break;
        if (!headersSent) {
          headersSent = true;
          const headers = ctx.responseMetadata();
          if (headers) call.sendMetadata(headers);
        }
        if (!call.write(item)) await writable(call);
      }
    };
    inCallContext(scope, call, run).then(
      () => {
        streams?.delete(call);
        scope.end(call.cancelled ? abandonedCode(call) : GrpcStatus.OK);
        if (!call.cancelled) call.end(ctx.trailerMetadata());
      },
      (error: unknown) => {
        streams?.delete(call);
        const status = toWireStatus(error);
        if (call.cancelled) {
          scope.end(abandonedCode(call));
          return;
        }
        scope.end(status.code, error instanceof ConnectError ? undefined : error);
        call.emit("error", { code: status.code, details: status.details, metadata: ctx.trailerMetadata(status.metadata) });
      },
    );
  }) as UntypedHandleCall;
}

function writable(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.once("drain", done);
    call.once("cancelled", done);
  });
}

/** A `ConnectError` for calls that arrive while the server is going away. */
export function shuttingDown(): ConnectError {
  return new ConnectError("server is shutting down", Code.Unavailable);
}
