// Request validation (`buf.validate` rules through protovalidate, with its CEL and RE2): its own
// entry point, so that importing the platform does not load it. `serve()` loads it when it starts
// serving; handler tests use the interceptor on a Connect router.
export { MAX_LISTED_VIOLATIONS, type RequestCheck, requestCheck } from "./request-validation.js";
export { validateRequests } from "./validation-interceptor.js";
