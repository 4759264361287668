import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "./call-context.js";
import { metadataToHeaders } from "./status.js";

/**
 * A Connect `HandlerContext` over a grpc-js call. Built lazily: the AbortSignal, the header
 * copies and the context values exist only if the handler touches them, which keeps the
 * per-call cost near a bare grpc-js handler's (Connect's own eager context costs a timer, an
 * AbortController and three Headers per call).
 */
export class GrpcHandlerContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  private signalValue: AbortSignal | undefined;
  private requestHeaderValue: Headers | undefined;
  private responseHeaderValue: Headers | undefined;
  private responseTrailerValue: Headers | undefined;
  private valuesValue: ContextValues | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    private readonly call: ServerSurfaceCall,
  ) {}

  get url(): string {
    return `/${this.service.typeName}/${this.method.name}`;
  }

  /** Aborts when the caller cancels, the deadline passes, or the call completes. */
  get signal(): AbortSignal {
    if (!this.signalValue) {
      const controller = new AbortController();
      this.signalValue = controller.signal;
      const abort = () => controller.abort(this.cancelReason());
      if (this.call.cancelled) abort();
      else this.call.once("cancelled", abort);
    }
    return this.signalValue;
  }

  readonly timeoutMs = (): number | undefined => {
    const deadline = this.call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    return Number.isFinite(at) ? at - Date.now() : undefined;
  };

  get requestHeader(): Headers {
    this.requestHeaderValue ??= metadataToHeaders(this.call.metadata);
    return this.requestHeaderValue;
  }

  get responseHeader(): Headers {
    this.responseHeaderValue ??= new Headers();
    return this.responseHeaderValue;
  }

  get responseTrailer(): Headers {
    this.responseTrailerValue ??= new Headers();
    return this.responseTrailerValue;
  }

  get values(): ContextValues {
    this.valuesValue ??= createContextValues();
    return this.valuesValue;
  }

  /** Response headers the handler set, as metadata to send; undefined when none were set. */
  responseMetadata(): Metadata | undefined {
    return headersToMetadata(this.responseHeaderValue);
  }

  /** Trailers the handler set, merged into `into` (or a new Metadata). */
  trailerMetadata(into?: Metadata): Metadata | undefined {
    const trailers = headersToMetadata(this.responseTrailerValue);
    if (!trailers) return into;
    if (into) into.merge(trailers);
    return into ?? trailers;
  }

  private cancelReason(): ConnectError {
    const timeout = this.timeoutMs();
    return timeout !== undefined && timeout <= 0
      ? new ConnectError("deadline exceeded", Code.DeadlineExceeded)
      : new ConnectError("call cancelled", Code.Canceled);
  }
}

function headersToMetadata(headers: Headers | undefined): Metadata | undefined {
  if (!headers) return undefined;
  let metadata: Metadata | undefined;
  headers.forEach((value, key) => {
    metadata ??= new Metadata();
    if (key.endsWith("-bin")) metadata.add(key, Buffer.from(value, "base64"));
    else metadata.add(key, value);
  });
  return metadata;
}
