import type { Interceptor } from "@connectrpc/connect";

/** 16 or 8 random bytes as lowercase hex: a W3C trace id or span id. */
function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Starts a W3C trace for each call the storefront makes (`traceparent: 00-<trace id>-<span id>-01`),
 * unless the call already carries one, so the gateway continues the browser's trace and one order
 * placed in the storefront is one trace from the browser to the e-mail. `traceparent` is in the
 * gateway's CORS allow-list.
 */
export const traceContext: Interceptor = (next) => (request) => {
  if (!request.header.has("traceparent")) request.header.set("traceparent", `00-${randomHex(16)}-${randomHex(8)}-01`);
  return next(request);
};
