import { Code, ConnectError } from "@connectrpc/connect";
import type { NodeRequest } from "./error-response.js";

/** Reads a request body as UTF-8, refusing more than `maxBytes` with RESOURCE_EXHAUSTED. */
export async function readBody(req: NodeRequest, maxBytes: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) throw new ConnectError(`request body larger than ${maxBytes} bytes`, Code.ResourceExhausted);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new ConnectError(`request body larger than ${maxBytes} bytes`, Code.ResourceExhausted);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
