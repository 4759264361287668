import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type BadRequest,
  BadRequest_FieldViolationSchema,
  BadRequestSchema,
  type ErrorInfo,
  ErrorInfoSchema,
  ResourceInfoSchema,
  type RetryInfo,
  RetryInfoSchema,
} from "@shop/contracts/google/rpc/error_details_pb";

/** The `google.rpc.ErrorInfo` domain of every error this mesh raises. */
export const ERROR_DOMAIN = "shop.mesh";

type Metadata = Record<string, string>;

function errorInfoDetail(reason: string, metadata: Metadata) {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) };
}

/** A field that failed validation, for {@link invalidArgument}. */
export interface FieldViolation {
  /** Path to the field, e.g. `items[0].quantity`. */
  field: string;
  /** What is wrong with it, in words. */
  description: string;
}

/** INVALID_ARGUMENT with a `google.rpc.BadRequest` listing the violations (and `metadata` in its ErrorInfo). */
export function invalidArgument(violations: FieldViolation[], message = "invalid request", metadata: Metadata = {}): ConnectError {
  const detail = create(BadRequestSchema, {
    fieldViolations: violations.map((v) => create(BadRequest_FieldViolationSchema, v)),
  });
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new ConnectError(summary ? `${message}: ${summary}` : message, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: detail },
    errorInfoDetail("INVALID_ARGUMENT", metadata),
  ]);
}

/** NOT_FOUND with `ErrorInfo` (reason, metadata) and `ResourceInfo` naming what is missing. */
export function notFound(reason: string, resource: { type: string; name: string }, metadata: Metadata = {}): ConnectError {
  return new ConnectError(`${resource.type} "${resource.name}" not found`, Code.NotFound, undefined, [
    errorInfoDetail(reason, metadata),
    { desc: ResourceInfoSchema, value: create(ResourceInfoSchema, { resourceType: resource.type, resourceName: resource.name }) },
  ]);
}

/** FAILED_PRECONDITION: the request is valid but the system is not in a state to allow it. */
export function failedPrecondition(reason: string, message: string, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition, undefined, [errorInfoDetail(reason, metadata)]);
}

/** ALREADY_EXISTS: e.g. an idempotency key reused with different arguments. */
export function alreadyExists(reason: string, message: string, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, Code.AlreadyExists, undefined, [errorInfoDetail(reason, metadata)]);
}

/** UNAVAILABLE, retryable; `retryAfterMs` becomes a `google.rpc.RetryInfo`. */
export function unavailable(reason: string, message: string, retryAfterMs?: number, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, Code.Unavailable, undefined, [errorInfoDetail(reason, metadata), ...retryDetail(retryAfterMs)]);
}

/**
 * RESOURCE_EXHAUSTED (e.g. a rate limit) with a `google.rpc.RetryInfo`, and a `retry-after` header
 * (whole seconds, rounded up) for HTTP callers of an edge that sends the error's metadata.
 */
export function resourceExhausted(reason: string, message: string, retryAfterMs: number, metadata: Metadata = {}): ConnectError {
  const headers = new Headers({ "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  return new ConnectError(message, Code.ResourceExhausted, headers, [errorInfoDetail(reason, metadata), ...retryDetail(retryAfterMs)]);
}

/** UNAUTHENTICATED: no valid credentials. */
export function unauthenticated(reason: string, message: string, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, Code.Unauthenticated, undefined, [errorInfoDetail(reason, metadata)]);
}

/** PERMISSION_DENIED: valid credentials, not allowed. */
export function permissionDenied(reason: string, message: string, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, Code.PermissionDenied, undefined, [errorInfoDetail(reason, metadata)]);
}

/** DEADLINE_EXCEEDED raised on purpose (e.g. a deadline shorter than a server accepts), with `ErrorInfo`. */
export function deadlineExceeded(reason: string, message: string, metadata: Metadata = {}): ConnectError {
  return new ConnectError(message, Code.DeadlineExceeded, undefined, [errorInfoDetail(reason, metadata)]);
}

function retryDetail(retryAfterMs: number | undefined) {
  if (retryAfterMs === undefined) return [];
  return [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(retryAfterMs) }) }];
}

function findDetail<Desc extends DescMessage>(error: unknown, desc: Desc): MessageShape<Desc> | undefined {
  return error instanceof ConnectError ? error.findDetails(desc)[0] : undefined;
}

/** The `google.rpc.ErrorInfo` an error carries, whether raised here or received over the wire. */
export function errorInfo(error: unknown): ErrorInfo | undefined {
  return findDetail(error, ErrorInfoSchema);
}

/** The `google.rpc.BadRequest` an error carries. */
export function badRequest(error: unknown): BadRequest | undefined {
  return findDetail(error, BadRequestSchema);
}

/** The `google.rpc.RetryInfo` an error carries. */
export function retryInfo(error: unknown): RetryInfo | undefined {
  return findDetail(error, RetryInfoSchema);
}
