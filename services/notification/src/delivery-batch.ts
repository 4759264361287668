import type { ChannelProvider, OutgoingNotification } from "./channel-provider.js";
import type { Delivery, NotificationStore } from "./store.js";

/** One command's delivery: the row that claims its command id, and what the provider sends. */
export interface PendingDelivery {
  delivery: Omit<Delivery, "seq" | "deliveredAt">;
  outgoing: OutgoingNotification;
}

/** Records deliveries and sends them: `deliver` resolves true (sent), false (a duplicate) or rejects with the provider's error. */
export interface DeliveryBatcher {
  deliver(pending: PendingDelivery): Promise<boolean>;
}

interface Queued extends PendingDelivery {
  resolve(sent: boolean): void;
  reject(err: unknown): void;
}

/**
 * Group commit of deliveries. Each command is claimed, sent and committed as before — claim its
 * command id (insert ... on conflict do nothing), send through the provider, commit — but the
 * commands that arrive together share ONE transaction: one multi-row insert claims them all,
 * their sends run side by side, the claims of those whose send failed are taken back (deleted in
 * the same transaction, as a rollback of that claim alone would), and one commit records the
 * rest. A batch starts at once when none is running (a lone command waits for nothing but the
 * end of this turn of the event loop); what arrives meanwhile forms the next batch, started when
 * the running one ends or when `maxBatch` (the consumer's prefetch) commands are waiting.
 *
 * Partial failure, per command, as with a transaction each:
 * - a send that fails rejects that command only (the consumer retries it); the others commit;
 * - a batch whose claim statement fails (nothing sent yet) is run again one command per
 *   transaction, so one bad row cannot fail the others;
 * - if the commit itself fails after the sends, every command of the batch rejects and is
 *   retried: the provider may see those commands again, the case the command id as the provider's
 *   idempotency key is for (as with a crash between a send and its commit).
 * Two copies of one command id never share a batch or run in two batches at once: the later
 * waits, then finds the id claimed (a duplicate), exactly as the unique key would make it wait.
 * Rows are claimed in command-id order, so batches of two replicas cannot deadlock on the key.
 */
export function createDeliveryBatcher(deps: { store: NotificationStore; provider: ChannelProvider; maxBatch?: number }): DeliveryBatcher {
  const maxBatch = Math.max(1, deps.maxBatch ?? 16);
  const maxRunning = 2;
  const queue: Queued[] = [];
  const inFlight = new Set<string>();
  let running = 0;
  let scheduled = false;

  function kick(): void {
    while (running < maxRunning && (queue.length >= maxBatch || (running === 0 && !scheduled && queue.length > 0))) {
      if (queue.length < maxBatch) {
        // Not full: let the deliveries of this turn of the event loop join it.
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          if (running === 0) start();
          kick();
        });
        return;
      }
      if (!start()) return;
    }
  }

  /** Starts a batch of up to maxBatch queued commands with distinct ids none of which is in flight. */
  function start(): boolean {
    const batch: Queued[] = [];
    const left: Queued[] = []; // what stays queued, in its order
    const ids = new Set<string>();
    for (const item of queue) {
      const id = item.delivery.commandId;
      if (batch.length === maxBatch || ids.has(id) || inFlight.has(id)) left.push(item);
      else {
        ids.add(id);
        batch.push(item);
      }
    }
    if (batch.length === 0) return false;
    queue.splice(0, queue.length, ...left);
    for (const id of ids) inFlight.add(id);
    running++;
    void run(batch).finally(() => {
      running--;
      for (const id of ids) inFlight.delete(id);
      kick();
    });
    return true;
  }

  async function run(batch: Queued[]): Promise<void> {
    batch.sort((a, b) => (a.delivery.commandId < b.delivery.commandId ? -1 : a.delivery.commandId > b.delivery.commandId ? 1 : 0));
    let sending = false;
    let outcome: { sent: Queued[]; failed: { item: Queued; err: unknown }[]; duplicates: Queued[] };
    try {
      outcome = await deps.store.db.transaction(async (tx) => {
        const claimed =
          batch.length === 1
            ? new Set((await deps.store.recordDelivery(tx, batch[0]!.delivery)) ? [batch[0]!.delivery.commandId] : [])
            : await deps.store.recordDeliveries(
                tx,
                batch.map((item) => item.delivery),
              );
        const mine = batch.filter((item) => claimed.has(item.delivery.commandId));
        sending = mine.length > 0;
        const results = await Promise.allSettled(mine.map((item) => Promise.resolve().then(() => deps.provider.send(item.outgoing))));
        const sent: Queued[] = [];
        const failed: { item: Queued; err: unknown }[] = [];
        for (const [i, result] of results.entries()) {
          if (result.status === "fulfilled") sent.push(mine[i]!);
          else failed.push({ item: mine[i]!, err: result.reason });
        }
        if (failed.length === mine.length && failed.length > 0) throw new SendsFailed(failed); // nothing to keep: roll back
        if (failed.length > 0)
          await deps.store.releaseDeliveries(
            tx,
            failed.map(({ item }) => item.delivery.commandId),
          );
        return { sent, failed, duplicates: batch.filter((item) => !claimed.has(item.delivery.commandId)) };
      });
    } catch (err) {
      if (err instanceof SendsFailed) {
        for (const { item, err: reason } of err.failed) item.reject(reason);
        for (const item of batch) if (!err.failed.some((f) => f.item === item)) item.resolve(false);
        return;
      }
      if (!sending && batch.length > 1) {
        // The claim failed before anything was sent: each command on its own, so one bad row fails alone.
        await Promise.all(batch.map((item) => run([item])));
        return;
      }
      for (const item of batch) item.reject(err);
      return;
    }
    for (const item of outcome.sent) item.resolve(true);
    for (const item of outcome.duplicates) item.resolve(false);
    for (const { item, err } of outcome.failed) item.reject(err);
  }

  return {
    deliver(pending) {
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ ...pending, resolve, reject });
        kick();
      });
    },
  };
}

/** Every claimed send of a batch failed: the transaction rolls back; each reports its own error. */
class SendsFailed extends Error {
  constructor(readonly failed: { item: Queued; err: unknown }[]) {
    super("every send of the batch failed");
  }
}
