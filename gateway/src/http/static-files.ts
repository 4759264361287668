import { existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Logger } from "@shop/platform";
import sirv from "sirv";
import type { NodeRequest, NodeResponse } from "./error-response.js";

/** Answers a GET or HEAD from the storefront's files; false when no file matches (the caller answers 404). */
export type StaticFiles = (req: NodeRequest, res: NodeResponse) => boolean;

// Vite names what it puts under /assets/ after the content's hash: a changed file is a new URL.
const HASHED = "/assets/";

/**
 * Serves the built storefront in `root` with sirv: `/` is index.html; a weak ETag on every file
 * (If-None-Match answers 304); the `.br` or `.gz` copy the build made when Accept-Encoding allows it,
 * with `Vary: Accept-Encoding`; hashed /assets/ cached for a year, everything else revalidated.
 * The file list is read once, here (sirv's production mode): only files in it are served, so no
 * path can leave `root`; a rebuilt storefront is served after a restart.
 */
export function createStaticFiles(root: string, logger: Logger): StaticFiles {
  if (!existsSync(root)) {
    logger.warn({ root }, "no storefront build: only the API is served (npm run build -w @shop/web)");
    return () => false;
  }
  const serve = sirv(root, {
    etag: true,
    brotli: true,
    gzip: true,
    extensions: ["html"],
    setHeaders(res, pathname) {
      res.setHeader("cache-control", pathname.startsWith(HASHED) ? "public, max-age=31536000, immutable" : "no-cache");
      res.setHeader("x-content-type-options", "nosniff");
    },
  });
  return (req, res) => {
    // sirv pipes the file without an error listener: a file removed since start-up would throw
    // from the read stream and take the process down. End just this response instead.
    res.once("pipe", (source: Readable) =>
      source.once("error", (error) => {
        logger.warn({ err: error, path: req.url }, "storefront file could not be read");
        res.destroy(error);
      }),
    );
    let found = true;
    // sirv is typed for node:http; it uses only url, headers, get/setHeader, writeHead, end and
    // pipe, which node:http2's compatibility objects have too (tested over h2c).
    serve(req as IncomingMessage, res as unknown as ServerResponse, () => {
      found = false;
    });
    return found;
  };
}
