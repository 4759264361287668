import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { status as GrpcStatus, Server, ServerCredentials, type ServerWritableStream } from "@grpc/grpc-js";
import { Health } from "@shop/contracts/grpc/health/v1/health_pb";
import { ServerReflection as ReflectionV1 } from "@shop/contracts/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ReflectionV1Alpha } from "@shop/contracts/grpc/reflection/v1alpha/reflection_pb";
import type { Logger } from "pino";
import { createGrpcService } from "../adapter/server-definition.js";
import type { ServiceConfig } from "../config.js";
import { createLogger } from "../observability/logger.js";
import { createServerInstrumentation } from "../observability/server-instrumentation.js";
import { initTracing, shutdownTracing } from "../observability/tracing.js";
import { type MeshIdentity, meshCertificatesLoaded, meshServerCredentials, readMeshIdentity } from "../tls/mesh-tls.js";
import { type AccessControl, type AccessPolicy, methodGate, openAccess } from "./access.js";
import { type AdminServer, startAdminServer } from "./admin.js";
import { connectionLimitOptions } from "./connection-limits.js";
import { createHealthService, HealthState, ServingStatus } from "./health.js";
import { addReflection } from "./reflection.js";

const STARTING_READINESS_MS = 100;
/** A service descriptor with its implementation and who may call it; make one with {@link service}. */
export type ServiceRegistration = readonly [DescService, object, AccessPolicy];

/** Pairs a generated service with its implementation and its access policy, type-checked against each other. */
export function service<S extends DescService>(desc: S, impl: ServiceImpl<S>, access: AccessPolicy<S>): ServiceRegistration {
  return [desc, impl, access as AccessPolicy];
}

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Dependency checks, polled; any false (or throwing, or slower than the interval) -> NOT_SERVING and /readyz 503. */
  readiness?: Record<string, () => Promise<boolean>>;
  /** Logger to use instead of one named after the service. */
  logger?: Logger;
  /**
   * Whether requests are checked against their `buf.validate` rules before the handler (default
   * true). false exists to measure what validation costs (bench part platform); a service keeps it on.
   */
  validateRequests?: boolean;
}

/** A running service process. */
export interface RunningServer {
  /** The bound gRPC port. */
  port: number;
  /** The bound admin port. */
  adminPort: number;
  /** `host:port` to dial the gRPC server (loopback when bound to all interfaces). */
  address: string;
  /** The workload's SPIFFE identity; undefined when MESH_TLS=off. */
  identity: MeshIdentity | undefined;
  logger: Logger;
  /** Registers cleanup that runs after in-flight calls drained (last registered runs first). */
  onShutdown(fn: () => Promise<void> | void): void;
  /** Drains and stops everything; resolves when done. Idempotent. Does not exit the process. */
  shutdown(): Promise<void>;
}

function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

/** Checks every dependency within `timeoutMs`; names the ones that failed. */
async function failingChecks(checks: Record<string, () => Promise<boolean>>, timeoutMs: number): Promise<string[]> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      const ok = await Promise.race([check().catch(() => false), timeout]);
      clearTimeout(timer);
      return ok ? undefined : name;
    }),
  );
  return results.filter((name): name is string => name !== undefined);
}

/**
 * Serves `services` on grpc-js with health (`grpc.health.v1`), reflection (v1 + v1alpha), the
 * admin HTTP port (/metrics /healthz /readyz), logging/metrics/tracing on every call, message
 * size limits, readiness polling, and graceful shutdown on SIGTERM/SIGINT (NOT_SERVING, refuse
 * new calls, drain in-flight within `shutdownGraceMs`, run onShutdown hooks, exit 0).
 */
export async function serve(config: ServiceConfig, services: ServiceRegistration[], options: ServeOptions = {}): Promise<RunningServer> {
  initTracing(config.name);
  const logger = options.logger ?? createLogger(config.name, config.logLevel);
  // mTLS: the workload's certificate is read now, so a missing or expired one stops start-up.
  const identity = config.tls.enabled ? readMeshIdentity(config.tls) : undefined;
  const control: AccessControl | undefined = identity && { trustDomain: identity.id.trustDomain };
  if (!identity)
    logger.warn({ event: "mesh_tls_off" }, "MESH_TLS=off: plaintext gRPC, no caller identities, every method open to any local process");
  const server = new Server({
    // channelz (grpc-js's debug registry) is not served here, and its bookkeeping runs on every
    // call: a Date per call and per message. Off, a call costs ~5 µs less (bench/platform).
    "grpc.enable_channelz": 0,
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    ...connectionLimitOptions(config.connections),
  });
  const instrumentation = createServerInstrumentation({ logger });
  // The request checks (protovalidate with its CEL and RE2) are loaded here, by a process that
  // serves, not by every importer of the platform: a gateway that only calls services never loads them.
  const checkOf = options.validateRequests === false ? undefined : (await import("../validation/request-validation.js")).requestCheck;
  const streams = new Set<ServerWritableStream<unknown, unknown>>();
  const health = new HealthState();
  for (const [desc, impl, access] of services) {
    const gateOf = (method: DescMethod) =>
      methodGate(
        method,
        (access.callers as Record<string, readonly string[]>)[method.localName] ?? [],
        access.userAsserters ?? [],
        control,
      );
    const { definition, handlers } = createGrpcService(
      desc,
      impl as Partial<ServiceImpl<DescService>>,
      instrumentation,
      streams,
      gateOf,
      checkOf,
    );
    server.addService(definition, handlers);
    health.set(desc.typeName, ServingStatus.NOT_SERVING);
  }
  health.set("", ServingStatus.NOT_SERVING);
  const quiet = createServerInstrumentation({ logger, okLevel: "debug" });
  // Health answers any workload of the mesh (probes, load balancers); reflection too (tools with a mesh certificate).
  const healthAccess = openAccess(Health);
  const healthGrpc = createGrpcService(Health, createHealthService(health), quiet, streams, (method) =>
    methodGate(method, healthAccess.callers[method.localName as keyof typeof Health.method], [], control),
  );
  server.addService(healthGrpc.definition, healthGrpc.handlers);
  addReflection(server, [...services.map(([desc]) => desc), Health, ReflectionV1, ReflectionV1Alpha], [ReflectionV1, ReflectionV1Alpha]);

  const checks = options.readiness ?? {};
  let ready = false;
  let draining = false;
  const updateReadiness = async () => {
    const failing = await failingChecks(checks, Math.max(500, config.readinessIntervalMs));
    if (draining) return;
    const nowReady = failing.length === 0;
    if (nowReady !== ready) {
      if (nowReady) logger.info({ event: "ready" }, "all dependencies ready: SERVING");
      else logger.warn({ event: "not_ready", failing }, "dependency down: NOT_SERVING");
    }
    ready = nowReady;
    health.setAll(nowReady ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  };
  // Until the first SERVING, checks run every STARTING_READINESS_MS: a process that starts while its
  // dependencies come up (a whole mesh starting at once) says SERVING within that, not a whole interval later.
  let poller: NodeJS.Timeout | undefined;
  let servedOnce = false;
  const pollReadiness = async () => {
    await updateReadiness();
    if (draining) return;
    servedOnce ||= ready;
    const next = servedOnce ? config.readinessIntervalMs : Math.min(STARTING_READINESS_MS, config.readinessIntervalMs);
    poller = setTimeout(() => void pollReadiness(), next);
    poller.unref();
  };
  await pollReadiness();

  if (config.tls.enabled) await meshCertificatesLoaded(config.tls); // before bind: the first handshake has them
  const credentials = config.tls.enabled ? meshServerCredentials(config.tls) : ServerCredentials.createInsecure();
  const port = await bind(server, `${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`, credentials);
  let admin: AdminServer;
  try {
    admin = await startAdminServer({
      host: config.host,
      port: config.adminPort,
      probes: { live: () => true, ready: () => ready && !draining },
      logger,
    });
  } catch (error) {
    server.forceShutdown();
    throw error;
  }

  const hooks: (() => Promise<void> | void)[] = [];
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      draining = true;
      clearTimeout(poller);
      logger.info({ event: "shutdown", inFlightStreams: streams.size, graceMs: config.shutdownGraceMs }, "shutting down: draining calls");
      health.setAll(ServingStatus.NOT_SERVING);
      // Long-lived streams (a watch of a resource, health Watch) would hold the drain open until the grace
      // period: end them now; UNAVAILABLE tells their clients to reconnect elsewhere.
      for (const call of streams) call.emit("error", { code: GrpcStatus.UNAVAILABLE, details: "server is shutting down" });
      health.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ event: "shutdown_forced" }, "grace period over: cancelling remaining calls");
          server.forceShutdown();
          resolve();
        }, config.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      for (const hook of hooks.reverse()) {
        try {
          await hook();
        } catch (error) {
          logger.error({ err: error }, "shutdown hook failed");
        }
      }
      await admin.close();
      await shutdownTracing();
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      logger.info({ event: "stopped" }, "stopped");
      logger.flush();
    })());

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ event: "signal", signal }, "signal received");
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  if (config.handleSignals) {
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }

  const dialHost = config.host === "0.0.0.0" || config.host === "::" || config.host === "" ? "127.0.0.1" : config.host;
  logger.info(
    {
      event: "listening",
      port,
      adminPort: admin.port,
      services: services.map(([d]) => d.typeName),
      identity: identity?.uri ?? "none (MESH_TLS=off)",
    },
    "serving",
  );
  return {
    port,
    adminPort: admin.port,
    address: `${dialHost.includes(":") ? `[${dialHost}]` : dialHost}:${port}`,
    identity,
    logger,
    onShutdown: (fn) => void hooks.push(fn),
    shutdown,
  };
}
