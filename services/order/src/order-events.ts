import type { Order } from "@shop/contracts/shop/order/v1/order_pb";

type Listener = (order: Order) => void;

/** In-process fan-out of order changes to WatchOrder streams on this replica. */
export class OrderEvents {
  private readonly listeners = new Map<string, Set<Listener>>();

  /** Tells every watcher of this order that it changed. */
  publish(order: Order): void {
    for (const listener of this.listeners.get(order.orderId) ?? []) listener(order);
  }

  /** Calls `listener` on each change of the order until the returned function is called. */
  subscribe(orderId: string, listener: Listener): () => void {
    const set = this.listeners.get(orderId) ?? new Set();
    this.listeners.set(orderId, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(orderId);
    };
  }
}
