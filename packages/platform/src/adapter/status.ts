import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { status as GrpcStatus, Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { StatusSchema } from "@shop/contracts/google/rpc/status_pb";

/** The trailer carrying a binary `google.rpc.Status` with the error details. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** What a handler's failure turns into on the wire. */
export interface WireStatus {
  code: number;
  details: string;
  metadata: Metadata;
}

/**
 * Turns anything a handler threw into a gRPC status: a ConnectError keeps its code, message and
 * details (as `grpc-status-details-bin`); anything else is INTERNAL "internal error", so internals
 * never leak (the caller logs the original).
 */
export function toWireStatus(error: unknown): WireStatus {
  const metadata = new Metadata();
  if (!(error instanceof ConnectError)) {
    return { code: GrpcStatus.INTERNAL, details: "internal error", metadata };
  }
  if (error.details.length > 0) {
    const details: Any[] = error.details.map((d) =>
      "desc" in d ? anyPack(d.desc, create(d.desc, d.value)) : create(AnySchema, { typeUrl: TYPE_URL_PREFIX + d.type, value: d.value }),
    );
    const status = create(StatusSchema, { code: error.code, message: error.rawMessage, details });
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, status)));
  }
  return { code: error.code, details: error.rawMessage, metadata };
}

/** Turns a grpc-js client error back into a ConnectError with its `google.rpc` details. */
export function fromServiceError(error: Partial<StatusObject> & Partial<ServiceError>): ConnectError {
  const code = typeof error.code === "number" && error.code > 0 && error.code <= 16 ? (error.code as number as Code) : Code.Unknown;
  const message = error.details ?? error.message ?? "";
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  const details: { type: string; value: Uint8Array }[] = [];
  if (raw instanceof Uint8Array) {
    try {
      const status = fromBinary(StatusSchema, raw);
      for (const any of status.details) {
        const type = any.typeUrl.startsWith(TYPE_URL_PREFIX)
          ? any.typeUrl.slice(TYPE_URL_PREFIX.length)
          : any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
        details.push({ type, value: any.value });
      }
    } catch {
      // Undecodable details are dropped; the code and message still stand.
    }
  }
  const connectError = new ConnectError(message, code, error.metadata ? metadataToHeaders(error.metadata) : undefined, undefined, error);
  connectError.details.push(...details);
  return connectError;
}

/** Copies gRPC metadata into a fetch `Headers` (binary values base64-encoded, as on the wire). */
export function metadataToHeaders(metadata: Metadata): Headers {
  const headers = new Headers();
  const map = metadata.getMap();
  for (const key in map) {
    const value = map[key];
    if (value === undefined) continue;
    headers.set(key, typeof value === "string" ? value : Buffer.from(value).toString("base64"));
  }
  return headers;
}
