import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";

/** A request/response pair from the combined HTTP/1.1 + h2c server. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
/** Same patch as connect-node's NodeServerResponse: write/writeHead made compatible across http and http2. */
export type NodeResponse = (Omit<ServerResponse, "write"> | Omit<Http2ServerResponse, "write">) & {
  write(chunk: string | Uint8Array, callback?: (err: Error | null | undefined) => void): boolean;
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
};

/** Writes an error as Connect error JSON with the mapped HTTP status (404, 400, 401, 429, 503...). */
export function writeConnectErrorJson(res: NodeResponse, error: unknown, extraHeaders: Record<string, string> = {}): void {
  const connectError = ConnectError.from(error);
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string> = { "content-type": "application/json", ...extraHeaders };
  connectError.metadata.forEach((value, key) => {
    headers[key] = value;
  });
  res.writeHead(codeToHttpStatus(connectError.code), headers);
  res.end(JSON.stringify(errorToJson(connectError, undefined)));
}

/**
 * Answers a request for a method outside the public surface with NOT_FOUND in the caller's own
 * protocol: a gRPC trailers-only status, a gRPC-Web status header, or Connect error JSON (HTTP 404).
 */
export function writeNotFound(req: NodeRequest, res: NodeResponse, error: ConnectError): void {
  const contentType = req.headers["content-type"] ?? "";
  const status = { "grpc-status": String(Code.NotFound), "grpc-message": encodeURIComponent(error.rawMessage) };
  if (/^application\/grpc-web/.test(contentType)) {
    res.writeHead(200, { "content-type": contentType, ...status });
    res.end();
    return;
  }
  if (/^application\/grpc/.test(contentType)) {
    res.writeHead(200, { "content-type": "application/grpc", ...status });
    res.end();
    return;
  }
  writeConnectErrorJson(res, error);
}
