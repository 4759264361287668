import { fileURLToPath } from "node:url";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import { databaseEngines, type EngineDatabase } from "@shop/platform/testing/postgres";
import { type AuthorizationOutcome, type AuthorizationRequest, type CardProcessor, SimulatedCardProcessor } from "../src/processor.js";

export const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

/** The two engines every payment store test runs on: embedded PGlite in memory, and a fresh PostgreSQL database. */
export const engines = databaseEngines(migrationsDir, "payment");
export type { EngineDatabase };

/**
 * The simulated processor with a record of every call that reached it, and an optional gate
 * that holds authorizations until opened (to act while one is at the processor).
 */
export class RecordingProcessor implements CardProcessor {
  readonly calls: string[] = [];
  private readonly inner = new SimulatedCardProcessor();
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private arrived: (() => void) | undefined;

  /** Holds authorizations until the returned function is called; `reached` resolves when one is held. */
  hold(): { reached: Promise<void>; release: () => void } {
    const reached = new Promise<void>((resolve) => (this.arrived = resolve));
    this.gate = new Promise<void>((resolve) => (this.openGate = resolve));
    return { reached, release: () => this.openGate?.() };
  }

  count(kind: string): number {
    return this.calls.filter((call) => call.startsWith(`${kind}:`)).length;
  }

  async authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    this.calls.push(`authorize:${request.idempotencyKey}`);
    if (this.gate) {
      this.arrived?.();
      await this.gate;
    }
    return this.inner.authorize(request);
  }

  async capture(reference: string, _amount: Money): Promise<void> {
    this.calls.push(`capture:${reference}`);
    return this.inner.capture();
  }

  async void(reference: string): Promise<void> {
    this.calls.push(`void:${reference}`);
    return this.inner.void();
  }

  async refund(reference: string, _amount: Money): Promise<void> {
    this.calls.push(`refund:${reference}`);
    return this.inner.refund();
  }
}

let counter = 0;

/** A fresh idempotency key / order id. */
export function uniqueKey(prefix = "order"): string {
  return `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}
