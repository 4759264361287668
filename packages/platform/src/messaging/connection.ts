import type { Writable } from "node:stream";
import type { Channel, ChannelModel, ConfirmChannel, RecoveringChannelModel } from "amqplib";
import { connect } from "amqplib";
import type { Logger } from "pino";

/** How to reach the broker and how to come back after losing it. */
export interface MessagingConnectionOptions {
  /** e.g. "amqp://guest:guest@127.0.0.1:5672" (AMQP_URL). */
  url: string;
  /** Shown by the broker (`rabbitmqctl list_connections client_properties`); tests close connections by it. */
  connectionName: string;
  logger: Logger;
  /**
   * Declares what this process relies on — its own queues (`declareTopology`), or the exchange it
   * publishes to (`declareExchange`) — on every (re)connect, before any channel is handed out.
   */
  declare?: (channel: Channel) => Promise<void>;
  /** Reconnect back-off: first delay and cap, in milliseconds. Defaults 200 and 10000. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** AMQP heartbeat in seconds; default 10, so a silent broker is noticed. */
  heartbeatSeconds?: number;
}

/** What a managed channel runs on every fresh channel (prefetch, consume, listeners). */
export type ChannelSetup<C extends Channel> = (channel: C) => Promise<void>;

/**
 * A channel that outlives its AMQP channels: re-opened after a reconnect or after a
 * channel-level error (e.g. PRECONDITION_FAILED), re-running its setup each time.
 */
export interface ManagedChannel<C extends Channel> {
  /** The open channel, if there is one right now. */
  current(): C | undefined;
  /** Resolves with an open channel; rejects after `timeoutMs` (default: waits indefinitely). */
  ready(timeoutMs?: number): Promise<C>;
  /** Closes it for good. */
  close(): Promise<void>;
}

/** A broker connection that reconnects by itself; channels come from `channel()`. */
export interface MessagingConnection {
  readonly connectionName: string;
  /** True while connected, with `declare` done (readiness checks use it). */
  isConnected(): boolean;
  /** Resolves once connected (with `declare` done); rejects after `timeoutMs`. */
  waitForConnect(timeoutMs?: number): Promise<void>;
  /** A confirm-mode channel kept open across reconnects and channel errors. */
  channel(setup?: ChannelSetup<ConfirmChannel>): ManagedChannel<ConfirmChannel>;
  /** Closes channels and the connection; no reconnect afterwards. */
  close(): Promise<void>;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

/**
 * Connects to RabbitMQ with automatic recovery (amqplib's `recovery` reconnects the
 * connection; topology, channels and their consumers are restored here). Returns at once:
 * the first connection is made in the background, so a service starts with the broker down.
 */
export function connectMessaging(options: MessagingConnectionOptions): MessagingConnection {
  const log = options.logger.child({ component: "amqp", connectionName: options.connectionName });
  let model: ChannelModel | undefined;
  let stopped = false;
  const channels = new Set<ChannelKeeper>();
  const connectWaiters: Waiter<void>[] = [];

  const url = new URL(options.url);
  if (!url.searchParams.has("heartbeat")) url.searchParams.set("heartbeat", String(options.heartbeatSeconds ?? 10));
  const recovering: Promise<RecoveringChannelModel> = connect(url.toString(), {
    clientProperties: { connection_name: options.connectionName },
    recovery: {
      initialDelay: options.reconnect?.initialDelayMs ?? 200,
      maxDelay: options.reconnect?.maxDelayMs ?? 10_000,
      waitForConnect: false,
      setup: async (fresh: ChannelModel) => {
        if (!options.declare) return;
        // A throwaway channel: a PRECONDITION_FAILED here fails setup, and recovery retries later.
        const ch = await fresh.createChannel();
        ch.on("error", () => {});
        await options.declare(ch);
        await ch.close();
      },
    },
  });

  void recovering.then(
    (rec) => {
      rec.on("connect", (fresh: ChannelModel) => {
        coalesceWrites(fresh);
        model = fresh;
        log.info({ event: "amqp.connected" }, "connected to broker");
        for (const waiter of connectWaiters.splice(0)) waiter.resolve();
        for (const keeper of channels) keeper.open(fresh);
      });
      rec.on("disconnect", (err: Error) => {
        model = undefined;
        log.warn({ event: "amqp.disconnected", err: err.message }, "lost broker connection");
      });
      rec.on("connect-failed", (err: Error) =>
        log.warn({ event: "amqp.connect_failed", err: err.message }, "broker connection attempt failed"),
      );
      rec.on("reconnect-scheduled", (info: { attempt: number; delay: number }) =>
        log.info({ event: "amqp.reconnect_scheduled", attempt: info.attempt, delayMs: info.delay }, "reconnecting"),
      );
      rec.on("error", (err: Error) => log.warn({ event: "amqp.connection_error", err: err.message }, "connection error"));
      rec.on("blocked", (reason: string) => log.warn({ event: "amqp.blocked", reason }, "broker blocked publishing"));
      rec.on("unblocked", () => log.info({ event: "amqp.unblocked" }, "broker unblocked publishing"));
    },
    (err: Error) => log.error({ event: "amqp.connect_invalid", err: err.message }, "cannot start connecting (bad AMQP_URL?)"),
  );

  class ChannelKeeper implements ManagedChannel<ConfirmChannel> {
    private ch: ConfirmChannel | undefined;
    private closed = false;
    private opening = false;
    private failures = 0;
    private readonly waiters: Waiter<ConfirmChannel>[] = [];

    constructor(private readonly setup: ChannelSetup<ConfirmChannel> | undefined) {}

    current(): ConfirmChannel | undefined {
      return this.ch;
    }

    ready(timeoutMs?: number): Promise<ConfirmChannel> {
      if (this.ch) return Promise.resolve(this.ch);
      if (this.closed) return Promise.reject(new Error("channel closed"));
      return waitWithTimeout(this.waiters, timeoutMs, "no AMQP channel: broker not connected");
    }

    async close(): Promise<void> {
      this.closed = true;
      channels.delete(this);
      const ch = this.ch;
      this.ch = undefined;
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("channel closed"));
      if (ch) await ch.close().catch(() => {});
    }

    async open(on: ChannelModel): Promise<void> {
      if (this.closed || this.opening || model !== on) return;
      this.opening = true;
      let ch: ConfirmChannel | undefined;
      try {
        ch = await on.createConfirmChannel();
        const opened = ch;
        opened.on("error", (err: Error) => log.warn({ event: "amqp.channel_error", err: err.message }, "channel error"));
        opened.on("close", () => this.onClosed(opened, on));
        if (this.setup) await this.setup(opened);
        this.failures = 0;
        this.ch = opened;
        for (const waiter of this.waiters.splice(0)) waiter.resolve(opened);
      } catch (err) {
        log.warn({ event: "amqp.channel_open_failed", err: (err as Error).message }, "could not open channel");
        this.failures += 1;
        if (ch) await ch.close().catch(() => {});
        else this.retryLater(on);
      } finally {
        this.opening = false;
      }
    }

    private onClosed(ch: ConfirmChannel, on: ChannelModel): void {
      if (this.ch === ch) this.ch = undefined;
      if (this.closed || model !== on) return; // a reconnect re-opens it
      // Also fires just before a lost connection is noticed; open() then finds the model gone.
      log.debug({ event: "amqp.channel_reopen" }, "channel closed; re-opening");
      this.retryLater(on);
    }

    private retryLater(on: ChannelModel): void {
      const delay = Math.min(5_000, 50 * 2 ** Math.min(this.failures, 7));
      setTimeout(() => void this.open(on), delay).unref();
    }
  }

  return {
    connectionName: options.connectionName,
    isConnected: () => model !== undefined,
    waitForConnect(timeoutMs?: number) {
      if (model) return Promise.resolve();
      if (stopped) return Promise.reject(new Error("connection closed"));
      return waitWithTimeout(connectWaiters, timeoutMs, "broker not connected");
    },
    channel(setup?: ChannelSetup<ConfirmChannel>) {
      const keeper = new ChannelKeeper(setup);
      channels.add(keeper);
      if (model) void keeper.open(model);
      return keeper;
    },
    async close() {
      stopped = true;
      for (const keeper of [...channels]) await keeper.close();
      for (const waiter of connectWaiters.splice(0)) waiter.reject(new Error("connection closed"));
      model = undefined;
      await (await recovering).close();
      log.info({ event: "amqp.closed" }, "broker connection closed");
    },
  };
}

function waitWithTimeout<T>(waiters: Waiter<T>[], timeoutMs: number | undefined, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const waiter: Waiter<T> = {
      resolve: (value) => {
        if (timer) clearTimeout(timer);
        resolve(value);
      },
      reject: (err) => {
        if (timer) clearTimeout(timer);
        reject(err);
      },
    };
    waiters.push(waiter);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(message));
      }, timeoutMs);
    }
  });
}

/**
 * amqplib writes each frame set it takes from a channel (a publish, an ack) to the socket on its
 * own: a write system call each, which on a busy machine also wakes the broker once per message.
 * Its muxer hands over all the frames queued in one pass; corking the socket around that pass
 * sends them in ONE write, the same bytes in the same order (backpressure unchanged: `write`
 * still says when the buffer is full, and the pass stops there). Skipped when amqplib's internals
 * are not the expected ones (`connection.muxer._readIncoming`, `muxer.out`), writing as before.
 */
function coalesceWrites(model: ChannelModel): void {
  const muxer = (model as unknown as { connection?: { muxer?: { _readIncoming?: () => void; out?: Partial<Writable> } } }).connection
    ?.muxer;
  const out = muxer?.out;
  const readIncoming = muxer?._readIncoming;
  if (!muxer || typeof readIncoming !== "function" || typeof out?.cork !== "function" || typeof out.uncork !== "function") return;
  muxer._readIncoming = function (this: unknown) {
    out.cork?.();
    try {
      readIncoming.call(muxer);
    } finally {
      out.uncork?.();
    }
  };
}
