import { describe, expect, it } from "vitest";
import { AsyncQueue } from "../src/index.js";

async function collect<T extends NonNullable<unknown>>(queue: AsyncQueue<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of queue) items.push(item);
  return items;
}

describe("AsyncQueue", () => {
  it("hands items to the reader in order, whether pushed before or while it waits", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    const reading = collect(queue);
    await Promise.resolve();
    queue.push(3);
    setTimeout(() => {
      queue.push(4);
      queue.close();
    }, 5);
    expect(await reading).toEqual([1, 2, 3, 4]);
  });

  it("ends at once when any of its signals aborts, dropping what the reader never took", async () => {
    const call = new AbortController();
    const server = new AbortController();
    const queue = new AsyncQueue<string>(call.signal, server.signal);
    const waiting = queue.next();
    server.abort();
    expect(await waiting).toBeUndefined();
    queue.push("late");
    expect(await queue.next()).toBeUndefined();
  });

  it("starts closed on an aborted signal and stops listening to its signals once closed", async () => {
    const aborted = AbortSignal.abort();
    expect(await new AsyncQueue<number>(aborted).next()).toBeUndefined();

    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;
    const queue = new AsyncQueue<number>(signal);
    expect(listeners).toBe(1);
    queue.close();
    expect(listeners).toBe(0); // a long-lived signal (the server's) does not collect one listener per stream
  });

  it("closes when the reader leaves a for-await loop early", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    for await (const item of queue) if (item === 1) break;
    queue.push(3);
    expect(await queue.next()).toBeUndefined();
  });
});
