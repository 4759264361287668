/**
 * A queue that one consumer awaits while producers (event listeners, timers) push into it: the
 * feed of a server stream. Iteration ends when `close()` is called or any of `signals` aborts
 * (the call, the server) — at once, dropping items not yet taken, because the one reader has gone.
 */
export class AsyncQueue<T extends NonNullable<unknown>> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: ((item: T | undefined) => void) | undefined;
  private closed = false;
  private readonly onAbort = () => this.close();
  private readonly signals: AbortSignal[];

  constructor(...signals: AbortSignal[]) {
    this.signals = signals;
    if (signals.some((signal) => signal.aborted)) this.closed = true;
    else for (const signal of signals) signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** Adds an item for the reader; ignored once closed. */
  push(item: T): void {
    if (this.closed) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting(item);
    } else this.items.push(item);
  }

  /** Ends iteration now; the pending `next()` resolves to undefined. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items.length = 0;
    for (const signal of this.signals) signal.removeEventListener("abort", this.onAbort);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(undefined);
  }

  /** The next item, or undefined once closed. One reader at a time. */
  next(): Promise<T | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (let item = await this.next(); item !== undefined; item = await this.next()) yield item;
    } finally {
      this.close();
    }
  }
}
