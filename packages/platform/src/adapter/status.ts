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
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  return connectErrorOf(
    typeof error.code === "number" ? error.code : Code.Unknown,
    error.details ?? error.message ?? "",
    raw instanceof Uint8Array ? raw : undefined,
    error.metadata ? metadataToHeaders(error.metadata) : undefined,
    error,
  );
}

/**
 * The ConnectError of a gRPC status as a client reads it: its code (UNKNOWN when out of range),
 * message, `grpc-status-details-bin` (undecodable details are dropped) and trailers. Both client
 * transports end here.
 */
export function connectErrorOf(
  code: number,
  message: string,
  detailsBin: Uint8Array | undefined,
  metadata?: Headers,
  cause?: unknown,
): ConnectError {
  const known = code > 0 && code <= 16 ? (code as Code) : Code.Unknown;
  const details: { type: string; value: Uint8Array }[] = [];
  if (detailsBin) {
    try {
      const status = fromBinary(StatusSchema, detailsBin);
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
  const connectError = new ConnectError(message, known, metadata, undefined, cause);
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
