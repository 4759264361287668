import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";
import { AsyncQueue } from "../async-queue.js";

export { HealthCheckResponse_ServingStatus as ServingStatus } from "@shop/contracts/grpc/health/v1/health_pb";

type Listener = (status: ServingStatus) => void;

/**
 * Serving status per service name ("" is the whole server), with watchers notified on change.
 * `close()` ends every Watch stream so a draining server is not held open by health watchers.
 */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly closed = new AbortController();

  /** Sets one service's status ("" = overall) and notifies its watchers if it changed. */
  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const listener of this.listeners.get(service) ?? []) listener(status);
  }

  /** Sets every known service, and the overall status, at once. */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.set(service, status);
  }

  /** The status of a service, or undefined when unknown. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Every known service and its status. */
  entries(): [string, ServingStatus][] {
    return [...this.statuses.entries()];
  }

  /** Ends every Watch stream. */
  close(): void {
    this.closed.abort();
  }

  /** Yields the current status, then every change, until the call or the state ends. */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    const changes = new AsyncQueue<ServingStatus>(signal, this.closed.signal);
    changes.push(this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN);
    const listener: Listener = (status) => changes.push(status);
    const set = this.listeners.get(service) ?? new Set();
    this.listeners.set(service, set);
    set.add(listener);
    try {
      yield* changes;
    } finally {
      set.delete(listener);
      changes.close();
    }
  }
}

/** `grpc.health.v1.Health` (Check, Watch, List) over a {@link HealthState}. */
export function createHealthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check({ service }) {
      const status = state.get(service);
      if (status === undefined) throw new ConnectError(`unknown service "${service}"`, Code.NotFound);
      return { status };
    },
    async *watch({ service }, ctx: HandlerContext) {
      for await (const status of state.watch(service, ctx.signal)) yield { status };
    },
    list() {
      return { statuses: Object.fromEntries(state.entries().map(([name, status]) => [name, { status }])) };
    },
  };
}
