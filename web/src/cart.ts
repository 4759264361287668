import type { Product } from "@shop/contracts/shop/inventory/v1/product_pb";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";

/** One line of the cart. */
export interface CartLine {
  product: Product;
  quantity: number;
}

/** The shopper's cart, in memory; listeners re-render on change. */
export class Cart {
  private readonly lines = new Map<string, CartLine>();
  private readonly listeners: (() => void)[] = [];

  /** Calls `fn` after every change. */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Adds one of `product`, up to the stock shown. Returns false when no more are available. */
  add(product: Product): boolean {
    const line = this.lines.get(product.sku);
    const quantity = (line?.quantity ?? 0) + 1;
    if (quantity > product.availableQuantity) return false;
    this.lines.set(product.sku, { product, quantity });
    this.changed();
    return true;
  }

  /** Removes the line for `sku`. */
  remove(sku: string): void {
    this.lines.delete(sku);
    this.changed();
  }

  /** Empties the cart. */
  clear(): void {
    this.lines.clear();
    this.changed();
  }

  /** The lines, in the order they were added. */
  items(): CartLine[] {
    return [...this.lines.values()];
  }

  /** Sum of the lines (one currency assumed, as the catalogue has). */
  total(): Money | undefined {
    const items = this.items();
    const first = items[0]?.product.price;
    if (!first) return undefined;
    const amountMinor = items.reduce((sum, line) => sum + (line.product.price?.amountMinor ?? 0n) * BigInt(line.quantity), 0n);
    return { ...first, amountMinor };
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
