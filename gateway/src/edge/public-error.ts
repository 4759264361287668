import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, ResourceInfoSchema, RetryInfoSchema } from "@shop/contracts/google/rpc/error_details_pb";
import { ERROR_DOMAIN } from "@shop/platform";

/** Codes that describe the caller's request; the rest describe the mesh (and their text is never the caller's business). */
export const CLIENT_CODES: ReadonlySet<Code> = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.ResourceExhausted,
  Code.FailedPrecondition,
  Code.Aborted,
  Code.OutOfRange,
  Code.Unauthenticated,
]);

/** The one message per code a public caller sees when the domain did not write one for it. */
const PUBLIC_MESSAGES: Record<Code, string> = {
  [Code.Canceled]: "the call was cancelled",
  [Code.Unknown]: "internal error",
  [Code.InvalidArgument]: "invalid request",
  [Code.DeadlineExceeded]: "the deadline passed before the service answered",
  [Code.NotFound]: "not found",
  [Code.AlreadyExists]: "already exists",
  [Code.PermissionDenied]: "permission denied",
  [Code.ResourceExhausted]: "resource exhausted",
  [Code.FailedPrecondition]: "the request cannot be carried out in the current state",
  [Code.Aborted]: "the request was aborted; retry it",
  [Code.OutOfRange]: "out of range",
  [Code.Unimplemented]: "not implemented",
  [Code.Internal]: "internal error",
  [Code.Unavailable]: "the service is unavailable; retry later",
  [Code.DataLoss]: "internal error",
  [Code.Unauthenticated]: "unauthenticated",
};

/** Longest domain message passed on (a validation summary can be long; the details carry the rest). */
const MAX_MESSAGE_CHARS = 1_000;

/**
 * What an upstream failure may show a public caller (errors policy, gateway/README.md): its code;
 * its message only when the code is a client-class one and the mesh's own domain raised it (an
 * `ErrorInfo` of domain `shop.mesh`), else one fixed message per code; of its details only
 * `ErrorInfo` of that domain, `BadRequest`, `RetryInfo`, and `ResourceInfo` (type and name) of a
 * domain error; no header or trailer of the upstream — only `retry-after`, derived from `RetryInfo`.
 * grpc-js texts ("No connection established", "remote_addr=10.0.0.5:50052"), a breaker's "circuit
 * open for <target>", upstream trailers and debug details therefore never leave the gateway.
 */
export function publicError(error: unknown): ConnectError {
  const source = ConnectError.from(error);
  const code = source.code;
  const info = source.findDetails(ErrorInfoSchema).filter((detail) => detail.domain === ERROR_DOMAIN);
  const fromDomain = info.length > 0;
  const message =
    CLIENT_CODES.has(code) && fromDomain && source.rawMessage !== ""
      ? source.rawMessage.slice(0, MAX_MESSAGE_CHARS)
      : PUBLIC_MESSAGES[code];
  const retry = source.findDetails(RetryInfoSchema)[0];
  const details = [
    ...info.map((value) => ({ desc: ErrorInfoSchema, value })),
    ...source.findDetails(BadRequestSchema).map((value) => ({ desc: BadRequestSchema, value })),
    ...(retry ? [{ desc: RetryInfoSchema, value: retry }] : []),
    ...(fromDomain
      ? source.findDetails(ResourceInfoSchema).map(({ resourceType, resourceName }) => ({
          desc: ResourceInfoSchema,
          value: { resourceType, resourceName },
        }))
      : []),
  ];
  const headers = new Headers();
  if (retry?.retryDelay) {
    const ms = Number(retry.retryDelay.seconds) * 1000 + retry.retryDelay.nanos / 1e6;
    headers.set("retry-after", String(Math.max(1, Math.ceil(ms / 1000))));
  }
  return new ConnectError(message, code, headers, details);
}
