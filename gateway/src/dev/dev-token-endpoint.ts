import { Code, ConnectError } from "@connectrpc/connect";
import type { GatewayConfig } from "../config.js";
import { type NodeRequest, type NodeResponse, writeConnectErrorJson } from "../http/error-response.js";
import { readBody } from "../http/request-body.js";
import { issueDevToken, isValidUserName } from "./dev-tokens.js";

/**
 * POST /dev/token `{"user":"alice"}` -> `{"token","expiresAt"}`: a development sign-in for the
 * storefront. On by default for local runs; GATEWAY_DEV_TOKENS=false (or a JWKS) turns it off.
 */
export async function serveDevToken(req: NodeRequest, res: NodeResponse, jwt: GatewayConfig["jwt"]): Promise<void> {
  try {
    if (req.method !== "POST") throw new ConnectError("use POST", Code.InvalidArgument);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, 4096));
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      throw new ConnectError('body must be JSON: {"user": "<name>"}', Code.InvalidArgument);
    }
    const user = (body as { user?: unknown } | null)?.user;
    if (!isValidUserName(user)) throw new ConnectError("user must be 1-64 of A-Z a-z 0-9 . _ @ -", Code.InvalidArgument);
    const { token, expiresAt } = await issueDevToken(jwt, user);
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify({ user, token, expiresAt: expiresAt.toISOString() }));
  } catch (error) {
    writeConnectErrorJson(res, error);
  }
}
