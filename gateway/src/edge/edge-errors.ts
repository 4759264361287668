import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "@shop/contracts/google/rpc/error_details_pb";

// The gateway raises only these few errors itself; they carry the same google.rpc details
// (ErrorInfo with domain "shop.mesh", RetryInfo) as the platform's factories in @shop/platform/errors.
const DOMAIN = "shop.mesh";

function info(reason: string) {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: DOMAIN }) };
}

/** UNAUTHENTICATED with an ErrorInfo reason (MISSING_TOKEN, INVALID_TOKEN, ...). */
export function unauthenticatedError(reason: string, message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated, undefined, [info(reason)]);
}

/** RESOURCE_EXHAUSTED with a RetryInfo and a `retry-after` header (seconds, rounded up). */
export function rateLimitedError(retryAfterMs: number): ConnectError {
  const headers = new Headers({ "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) });
  return new ConnectError("rate limit exceeded; retry later", Code.ResourceExhausted, headers, [
    info("RATE_LIMITED"),
    { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(retryAfterMs) }) },
  ]);
}

/** NOT_FOUND for a path that is not part of the public surface. */
export function notPublicError(path: string): ConnectError {
  return new ConnectError(`${path} is not a public method of this gateway`, Code.NotFound, undefined, [info("METHOD_NOT_PUBLIC")]);
}
