export { currentIncomingCall } from "./adapter/call-context.js";
export { createGrpcService, type GrpcService } from "./adapter/server-definition.js";
export { fromServiceError, toWireStatus } from "./adapter/status.js";
export { AsyncQueue } from "./async-queue.js";
export type { RetryOptions } from "./client/channel-options.js";
export type { BreakerOptions } from "./client/circuit-breaker.js";
export { type CallOptions, type ClientOptions, type ClientTransport, createClient, type GrpcClient } from "./client/create-client.js";
export {
  ConfigError,
  envInteger,
  envIntegerList,
  envPrefix,
  loadServiceConfig,
  type ServiceConfig,
  type ServiceDefaults,
} from "./config.js";
export * from "./errors.js";
export { createLogger, type Logger } from "./observability/logger.js";
export { metricsRegistry } from "./observability/metrics.js";
export { traceFields } from "./observability/trace-fields.js";
export { enableContextPropagation, initTracing, platformTracer, type RpcSpanTemplate, rpcSpanTemplate } from "./observability/tracing.js";
export { type Page, type PageKeyCodec, type PageRequest, type Pagination, type PaginationOptions, pagination } from "./pagination.js";
export { installProcessHandlers, type ProcessHandlerOptions } from "./process-handlers.js";
export { type AccessPolicy, ANY_WORKLOAD, endUser, openAccess, peerIdentity, USER_HEADER, type Workloads } from "./server/access.js";
export {
  type AdminProbes,
  type AdminRoutes,
  type AdminServer,
  type AdminServerOptions,
  type MetricsSource,
  startAdminServer,
} from "./server/admin.js";
export { HealthState, ServingStatus } from "./server/health.js";
export { type RunningServer, type ServeOptions, type ServiceRegistration, serve, service } from "./server/serve.js";
export {
  loadMeshTlsConfig,
  type MeshIdentity,
  type MeshTlsConfig,
  meshChannelCredentials,
  meshServerCredentials,
  readMeshIdentity,
} from "./tls/mesh-tls.js";
export { parseSpiffeId, type SpiffeId, spiffeUri } from "./tls/spiffe.js";
