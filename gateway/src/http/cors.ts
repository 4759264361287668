import type { IncomingHttpHeaders } from "node:http";

/** What the CORS check decided for one request. */
export type CorsDecision =
  | { kind: "none" } // no Origin, or same origin: nothing to add
  | { kind: "allowed"; headers: Record<string, string>; preflight: boolean }
  | { kind: "denied"; preflight: boolean };

const ALLOW_HEADERS = [
  "authorization",
  "content-type",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-accept-encoding",
  "connect-content-encoding",
  "grpc-timeout",
  "x-grpc-web",
  "x-user-agent",
  "traceparent",
  "tracestate",
].join(", ");
const EXPOSE_HEADERS = ["grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after", "content-encoding"].join(", ");

/** Decides CORS for a request: only listed origins get headers; preflights from others are refused. */
export function decideCors(allowedOrigins: readonly string[], method: string, headers: IncomingHttpHeaders): CorsDecision {
  const origin = headers.origin;
  if (origin === undefined) return { kind: "none" };
  const host = headers[":authority"] ?? headers.host;
  const preflight = method === "OPTIONS" && headers["access-control-request-method"] !== undefined;
  if (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) {
    return { kind: "none" };
  }
  if (!allowedOrigins.includes(origin)) return { kind: "denied", preflight };
  const allowed: Record<string, string> = {
    "access-control-allow-origin": origin,
    "access-control-allow-credentials": "true",
    "access-control-expose-headers": EXPOSE_HEADERS,
    vary: "Origin",
  };
  if (preflight) {
    allowed["access-control-allow-methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
    allowed["access-control-allow-headers"] = ALLOW_HEADERS;
    allowed["access-control-max-age"] = "600";
  }
  return { kind: "allowed", headers: allowed, preflight };
}
