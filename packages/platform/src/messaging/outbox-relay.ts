import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import type { Database } from "../database/database.js";
import { metricsRegistry } from "../observability/metrics.js";
import { enableContextPropagation } from "../observability/tracing.js";
import { onOutboxCommitted } from "./outbox-nudge.js";
import { publishStored, storedHeaders, storedTraceFields } from "./outbox-send.js";
import { PublishError, type Publisher } from "./publisher.js";
import type { AmqpHeaders } from "./trace-headers.js";

/** Options for `startOutboxRelay`. */
export interface OutboxRelayOptions {
  db: Database;
  publisher: Publisher;
  logger: Logger;
  /** Pause between polls when the outbox is drained; default 200 ms. */
  intervalMs?: number;
  /**
   * Longest pause between polls of an idle outbox: each poll that finds nothing (and has nothing to
   * mark or retry) doubles the pause, from `intervalMs` up to this; rows found, or committed in this
   * process, bring it back to `intervalMs`. Rows committed in this process wake the relay at once
   * either way; another process's rows (a replica that died before publishing them) wait at most
   * this long. Default 10 × `intervalMs` (2 s).
   */
  maxIdleIntervalMs?: number;
  /**
   * How long after rows committed in this process the relay publishes them (default 50 ms, a quarter
   * of the poll): commits within that window go out in one round. 0 is a round per commit — measured
   * at c=1, that cost ~2 ms of CPU per order (order and notification: one message per round and per
   * consumer batch).
   */
  wakeDelayMs?: number;
  /** Rows published per round (pipelined on one confirm channel); default 100. */
  batchSize?: number;
  /** Longest pause while the broker is away; default 10000 ms. */
  maxBackoffMs?: number;
  /**
   * How long a relay holds the rows it claimed before another relay may take them (a relay that
   * died mid-round); default 30000 ms, well past a round's publish-and-confirm.
   */
  claimMs?: number;
  /** Where the gauges are registered; default the platform's `metricsRegistry` (served on /metrics). */
  registry?: Registry;
}

/** How far behind the relay is. */
export interface OutboxBacklog {
  count: number;
  oldestAgeSeconds: number;
}

/** A running relay. */
export interface OutboxRelay {
  /** Pending rows and the age of the oldest, read now (also updates the gauges). */
  backlog(): Promise<OutboxBacklog>;
  /** Stops polling and waits for the round in flight. */
  stop(): Promise<void>;
}

interface OutboxRow extends Record<string, unknown> {
  id: string | number;
  message_id: string;
  message_type: string;
  routing_key: string;
  payload: Uint8Array;
  headers: AmqpHeaders | string | null;
}

/**
 * Publishes pending outbox rows in id order with confirms, marking a row published only after
 * the broker's ack. Relays of several replicas share one outbox: each round claims its rows
 * (`FOR UPDATE SKIP LOCKED`, then `claimed_until`, in one short statement), so each row is
 * published by one relay, and a row claimed by a relay that died is taken again after `claimMs`.
 * (On PGlite, one connection, there is no second relay to skip: the same SQL simply runs.) A
 * round is ONE statement — it marks the previous round's acked rows published and claims the
 * next ones — and publishes every claimed row with its confirm in flight; acked rows are marked by
 * the next round (a wake-up's or the poll's) or by `stop()`; the backlog no longer counts them.
 * Until then they stay claimed (a relay that dies in between has them published again, a
 * duplicate that consumers drop). While a full round's confirms are in flight, the next round is
 * already claimed and published, so a backlog drains at the pace of the slower of the database and
 * the broker, not of both in turn. Unroutable or nacked rows stay pending with `last_error` and an error log
 * (the alarm); while the broker is away it backs off. It runs on its own timer and never holds
 * a transaction while publishing, so it never blocks the request path. Rows committed by this
 * process wake it at once (outbox-nudge.ts); the poll finds everyone else's. Exposes the gauges
 * `outbox_backlog` and `outbox_oldest_age_seconds`.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  enableContextPropagation(); // rows written by this process carry the active trace context
  const { db, publisher } = options;
  const log = options.logger.child({ component: "outbox.relay" });
  const intervalMs = options.intervalMs ?? 200;
  const maxIdleIntervalMs = Math.max(intervalMs, options.maxIdleIntervalMs ?? intervalMs * 10);
  const batchSize = options.batchSize ?? 100;
  const wakeDelayMs = options.wakeDelayMs ?? 50;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const claimMs = options.claimMs ?? 30_000;
  const registry = options.registry ?? metricsRegistry;
  const backlogGauge = gauge(registry, "outbox_backlog", "Outbox rows not yet published");
  const ageGauge = gauge(registry, "outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row");

  let stopped = false;
  let backoffMs = 0;
  // The connection is usually still opening when the relay starts: not a warning unless it lasts.
  const startedAt = Date.now();
  let connectedOnce = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  // Rows the broker refused (unroutable/nacked) wait before their next try, so one bad row
  // neither floods the log nor holds back the rows behind it.
  const parked = new Map<string, { until: number; failures: number }>();

  // Rows the broker acked, marked published by the next round's statement (with its claim) or by stop().
  let acked: string[] = [];

  async function backlog(): Promise<OutboxBacklog> {
    // Rows this relay has had acked are published, marked or not yet.
    const { rows } = await db.query<{ count: string | number; oldest: string | number | null }>(
      `select count(*) as count, extract(epoch from now() - min(created_at)) as oldest from outbox
       where published_at is null and id <> all($1::bigint[])`,
      [acked],
    );
    const count = Number(rows[0]?.count ?? 0);
    const oldestAgeSeconds = Math.max(0, Number(rows[0]?.oldest ?? 0));
    backlogGauge.set(count);
    ageGauge.set(oldestAgeSeconds);
    return { count, oldestAgeSeconds };
  }

  let backlogAt = 0;

  /**
   * The round's one statement: marks the previous round's acked rows published and claims the
   * next rows (`FOR UPDATE SKIP LOCKED`, then `claimed_until`), without holding a transaction
   * while publishing. The marked rows are still claimed by this relay, and are kept out of the
   * claim besides, so the two parts never touch one row.
   */
  async function markAndClaim(limit: number, skip: string[]): Promise<OutboxRow[]> {
    const marked = acked;
    acked = [];
    try {
      const { rows } = await db.query<OutboxRow>(
        `with marked as (
           update outbox set published_at = now(), attempts = attempts + 1, last_error = null, claimed_until = null
           where id = any($4::bigint[])),
         next as (
           select id from outbox
           where published_at is null and (claimed_until is null or claimed_until < now())
             and id <> all($2::bigint[]) and id <> all($4::bigint[])
           order by id limit $1
           for update skip locked)
         update outbox set claimed_until = now() + ($3::text || ' milliseconds')::interval
         from next where outbox.id = next.id
         returning outbox.id, message_id, message_type, routing_key, payload, headers`,
        [limit, skip, String(claimMs), marked],
      );
      return rows;
    } catch (err) {
      acked = marked.concat(acked); // still acked, still claimed: marked by the next round
      throw err;
    }
  }

  /** Marks the acked rows published now (no claim). */
  async function markAcked(): Promise<void> {
    if (acked.length > 0) await markAndClaim(0, []);
  }

  /**
   * Claims the next rows (marking the acked ones with the same statement) and publishes them, their
   * confirms in flight: undefined while the broker is away (the acked rows are marked meanwhile).
   */
  async function claimAndPublish(): Promise<Round | undefined> {
    if (!publisher.isReady()) {
      await markAcked();
      return undefined;
    }
    connectedOnce = true;
    const now = Date.now();
    const skip = [...parked].filter(([, p]) => p.until > now).map(([id]) => id);
    const claimed = await markAndClaim(batchSize, skip);
    const rows = claimed.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    // Pipelined on one confirm channel: the broker keeps their order, confirms arrive as they come.
    const results = Promise.allSettled(
      rows.map((row) =>
        publishStored(
          publisher,
          {
            routingKey: row.routing_key,
            type: row.message_type,
            messageId: row.message_id,
            body: row.payload,
            headers: storedHeaders(row.headers),
          },
          log,
        ),
      ),
    );
    return { rows, results };
  }

  /** Waits for a round's confirms: acked rows are marked by a later statement, refused ones parked and released. */
  async function settle(round: Round): Promise<{ published: number; fetched: number; brokerDown: boolean }> {
    const { rows } = round;
    const results = await round.results;
    let brokerDown = false;
    let published = 0;
    const failed: { id: string; error: string }[] = [];
    for (const [i, result] of results.entries()) {
      const row = rows[i]!;
      if (result.status === "fulfilled") {
        acked.push(String(row.id));
        parked.delete(String(row.id));
        published++;
        continue;
      }
      const err = result.reason as Error;
      const reason = err instanceof PublishError ? err.reason : "error";
      if (reason === "unroutable" || reason === "nacked") {
        const failures = (parked.get(String(row.id))?.failures ?? 0) + 1;
        parked.set(String(row.id), { failures, until: Date.now() + Math.min(60_000, intervalMs * 2 ** Math.min(failures, 16)) });
        log.error(
          {
            event: "outbox.alarm",
            alarm: true,
            reason,
            outboxId: String(row.id),
            messageId: row.message_id,
            routingKey: row.routing_key,
            err: err.message,
            ...storedTraceFields(storedHeaders(row.headers)),
          },
          "outbox row not accepted by the broker; kept pending",
        );
      } else brokerDown = true;
      failed.push({ id: String(row.id), error: `${reason}: ${err.message}` });
    }
    if (failed.length > 0) {
      // Released (pending again) before the next claim, in one statement; the acked ones are marked with it.
      await db.query(
        `update outbox set attempts = attempts + 1, last_error = f.error, claimed_until = null
         from unnest($1::bigint[], $2::text[]) as f(id, error) where outbox.id = f.id`,
        [failed.map((f) => f.id), failed.map((f) => f.error)],
      );
      await markAcked();
    }
    return { published, fetched: rows.length, brokerDown };
  }

  // A round claimed and published while the one before it waited for its confirms; settled by the next tick.
  let ahead: Round | undefined;

  /**
   * One round: how many rows were claimed and published (a full batch means "poll again now").
   * After a full batch, more rows are likely waiting: the next round's claim and publishes go out
   * while this one's confirms are in flight (one channel: the broker keeps their order).
   */
  async function publishBatch(): Promise<{ published: number; fetched: number; brokerDown: boolean }> {
    const current = ahead ?? (await claimAndPublish());
    ahead = undefined;
    if (current === undefined) return { published: 0, fetched: 0, brokerDown: true };
    let aheadFailure: unknown;
    if (current.rows.length === batchSize && !stopped) {
      ahead = await claimAndPublish().catch((err: unknown) => {
        aheadFailure = err;
        return undefined;
      });
    }
    const outcome = await settle(current);
    if (aheadFailure !== undefined) throw aheadFailure;
    return outcome;
  }

  // Woken (outbox rows committed in this process) while a round runs: the next round runs after wakeDelayMs.
  let woken = false;
  // The pause after the next poll that finds nothing: it doubles while the outbox stays idle.
  let idleMs = intervalMs;
  let waiting = false; // between rounds, on the timer
  let dueAt = 0; // when the timer's round starts
  function schedule(delayMs: number): void {
    if (stopped) return;
    if (woken && backoffMs === 0) delayMs = Math.min(delayMs, wakeDelayMs);
    woken = false;
    waiting = true;
    dueAt = Date.now() + delayMs;
    timer = setTimeout(() => {
      waiting = false;
      round = tick();
    }, delayMs);
    timer.unref();
  }

  /** Rows were committed in this process: publish them soon rather than at the next poll (not while the broker is away). */
  function wake(): void {
    if (stopped || backoffMs > 0) return;
    idleMs = intervalMs;
    if (!waiting) {
      woken = true; // a round is running; the one after it starts after wakeDelayMs
      return;
    }
    if (dueAt - Date.now() <= wakeDelayMs) return; // a round starts soon enough: these rows ride on it
    clearTimeout(timer);
    schedule(wakeDelayMs);
  }
  const stopWaking = onOutboxCommitted(wake);

  async function tick(): Promise<void> {
    let next = intervalMs;
    try {
      const { fetched, published, brokerDown } = await publishBatch();
      if (brokerDown) {
        backoffMs = Math.min(maxBackoffMs, Math.max(intervalMs, backoffMs * 2 || intervalMs));
        next = backoffMs;
        const level = connectedOnce || Date.now() - startedAt > 5_000 ? "warn" : "debug";
        log[level]({ event: "outbox.broker_unavailable", retryInMs: next }, "broker unavailable; outbox rows kept");
      } else {
        backoffMs = 0;
        // A full batch: poll again now. Rows acked but not marked wait for the next round — a wake-up's
        // or the poll's — to be marked with its claim (or for stop()): still claimed by this relay,
        // no other relay takes them meanwhile, and a wake-up per committed row costs one statement, not two.
        if (fetched === batchSize && published > 0) next = 0;
        // Idle (nothing claimed, nothing left to mark or to retry): poll less and less often. An idle
        // mesh on PGlite spent most of its CPU on these polls (two statements every 200 ms).
        if (fetched === 0 && acked.length === 0 && parked.size === 0) {
          next = idleMs;
          idleMs = Math.min(maxIdleIntervalMs, idleMs * 2);
        } else idleMs = intervalMs;
      }
      // The gauges: read when the relay is idle (at most once a poll interval: wake-ups make rounds
      // frequent), and at most once a second while it is busy.
      if (Date.now() - backlogAt >= (next === 0 ? 1_000 : intervalMs)) {
        backlogAt = Date.now();
        await backlog();
      }
    } catch (err) {
      backoffMs = Math.min(maxBackoffMs, Math.max(intervalMs, backoffMs * 2 || intervalMs));
      next = backoffMs;
      log.error({ event: "outbox.round_failed", err: (err as Error).message, retryInMs: next }, "outbox relay round failed");
    }
    schedule(next);
  }

  schedule(0);
  log.info({ event: "outbox.relay_started", intervalMs, maxIdleIntervalMs, batchSize }, "outbox relay started");

  return {
    backlog,
    async stop() {
      stopped = true;
      stopWaking();
      if (timer) clearTimeout(timer);
      await round;
      if (ahead) {
        await settle(ahead).catch((err: Error) => {
          // Its refused rows stay claimed until the claim runs out, then go out again.
          log.error({ event: "outbox.round_failed", err: err.message }, "outbox relay round failed while stopping");
        });
        ahead = undefined;
      }
      await markAcked().catch((err: Error) => {
        // Still claimed: published again (a duplicate the consumers drop) once the claim runs out.
        log.error({ event: "outbox.mark_failed", err: err.message, rows: acked.length }, "acked outbox rows not marked published");
      });
    },
  };
}

/** A claimed round's rows and their publishes' outcomes (confirms in flight until they settle). */
interface Round {
  rows: OutboxRow[];
  results: Promise<PromiseSettledResult<void>[]>;
}

function gauge(registry: Registry, name: string, help: string): Gauge {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge;
  return new Gauge({ name, help, registers: [registry] });
}
