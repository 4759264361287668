import { type Message, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorToJson } from "@connectrpc/connect/protocol-connect";
import type { Edge, EdgeCall } from "../edge/edge.js";
import { type NodeRequest, type NodeResponse, writeConnectErrorJson } from "../http/error-response.js";
import { readBody } from "../http/request-body.js";
import { transcodeRequest } from "./request-transcoder.js";
import type { RestMatch } from "./route-table.js";

/** Deadline a REST caller may ask for, in the `grpc-timeout`-free world of curl: `X-Timeout-Ms`. */
function restTimeout(req: NodeRequest): number | undefined {
  const raw = req.headers["x-timeout-ms"];
  const value = typeof raw === "string" ? Number(raw) : NaN;
  return Number.isInteger(value) && value >= 0 ? value : undefined;
}

function header(req: NodeRequest, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

/**
 * Serves one REST call transcoded from a `google.api.http` rule: builds the request from path,
 * query and body, forwards it, and answers proto3 JSON — or, for server streams, one JSON object
 * per line (`{"result": ...}`, a final `{"error": ...}` if the stream fails).
 */
export async function serveRest(
  req: NodeRequest,
  res: NodeResponse,
  /** The request target's query; undefined when it has none (the target was a plain path). */
  query: URLSearchParams | undefined,
  match: RestMatch,
  edge: Edge,
  readMaxBytes: number,
): Promise<void> {
  const aborted = new AbortController();
  // "close" follows every response; only one that closes unfinished means the caller went away.
  // (Building that error on every close cost ~30 µs of stack capture per request: bench/README.md.)
  res.on("close", () => {
    if (!res.writableFinished) aborted.abort(new ConnectError("the client went away", Code.Canceled));
  });
  const method = match.route.method;
  try {
    const body = match.route.binding.body === "" ? "" : await readBody(req, readMaxBytes);
    const call: EdgeCall = {
      method,
      request: transcodeRequest(match, query, body),
      authorization: header(req, "authorization"),
      traceparent: header(req, "traceparent"),
      tracestate: header(req, "tracestate"),
      remoteAddress: req.socket.remoteAddress ?? "unknown",
      forwardedFor: header(req, "x-forwarded-for"),
      signal: aborted.signal,
      timeoutMs: restTimeout(req),
    };
    const output = method.method.output;
    if (method.method.methodKind === "server_streaming") {
      const stream = edge.stream(call)[Symbol.asyncIterator]();
      // Admission errors surface on the first next(): answer them with a proper status, not a 200.
      let next = await stream.next();
      res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
      try {
        for (; !next.done; next = await stream.next()) {
          res.write(`${JSON.stringify({ result: toJson(output, next.value as Message) })}\n`);
        }
      } catch (error) {
        if (!aborted.signal.aborted) res.write(`${JSON.stringify({ error: errorToJson(ConnectError.from(error), undefined) })}\n`);
      }
      res.end();
      return;
    }
    const response = await edge.unary(call);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(toJson(output, response)));
  } catch (error) {
    writeConnectErrorJson(res, error);
  }
}
