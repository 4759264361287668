import type { DescService, Message } from "@bufbuild/protobuf";
import type { Context } from "@opentelemetry/api";

/** Per-call options the gateway sets on every forwarded call. */
export interface UpstreamCallOptions {
  signal: AbortSignal;
  timeoutMs: number;
  headers: Record<string, string>;
  /** The caller's trace (or a fresh root): the upstream call's span parent. */
  context: Context;
}

/** A client method as the platform's typed client exposes it, seen untyped. */
type UpstreamMethod = (request: Message, options: UpstreamCallOptions) => Promise<Message> | AsyncIterable<Message>;

/** A platform grpc-js client, keyed by method `localName`. */
export type UpstreamClient = { close(): void } & Record<string, unknown>;

/** Makes a client for a service at a target (the platform's `createClient`). */
export type UpstreamClientFactory = (service: DescService, target: string) => UpstreamClient;

/** The clients the gateway forwards to, one channel per upstream service. */
export interface Upstreams {
  /** The client method for a service's method; throws if the service is not wired. */
  method(service: DescService, localName: string): UpstreamMethod;
  close(): void;
}

/** Creates (lazily) one client per fronted service at its target (by full name, from its `<NAME>_URL`). */
export function createUpstreams(targets: Readonly<Record<string, string>>, factory: UpstreamClientFactory): Upstreams {
  const clients = new Map<string, UpstreamClient>();
  return {
    method(service, localName) {
      let client = clients.get(service.typeName);
      if (!client) {
        const target = targets[service.typeName];
        if (target === undefined) throw new Error(`no upstream configured for ${service.typeName}`);
        client = factory(service, target);
        clients.set(service.typeName, client);
      }
      const fn = client[localName];
      if (typeof fn !== "function") throw new Error(`upstream client has no method ${localName}`);
      return fn.bind(client) as UpstreamMethod;
    },
    close() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
