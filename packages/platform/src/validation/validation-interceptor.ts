import type { Interceptor } from "@connectrpc/connect";
import { requestCheck } from "./request-validation.js";

/**
 * A Connect interceptor that enforces the same `buf.validate` rules as `serve()` does on grpc-js:
 * for a Connect router (handlers tested over an in-memory transport) or a Connect client that
 * would rather refuse a bad request before sending it. Unary and server-streaming requests.
 */
export const validateRequests: Interceptor = (next) => async (request) => {
  if (!request.stream) {
    const invalid = requestCheck(request.method.input)(request.message);
    if (invalid) throw invalid;
    return next(request);
  }
  const check = requestCheck(request.method.input);
  const messages = request.message;
  async function* checked() {
    for await (const message of messages) {
      const invalid = check(message);
      if (invalid) throw invalid;
      yield message;
    }
  }
  return next({ ...request, message: checked() });
};
