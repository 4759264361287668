import { type Order, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";

/** A shopper-facing name for an order's status. */
export function statusLabel(status: OrderStatus): string {
  switch (status) {
    case OrderStatus.PENDING:
      return "Pending";
    case OrderStatus.CONFIRMED:
      return "Confirmed";
    case OrderStatus.REJECTED:
      return "Rejected";
    case OrderStatus.CANCELLED:
      return "Cancelled";
    default:
      return "Unknown";
  }
}

/** The status in words, with the reason when the order did not go through. */
export function statusSentence(order: Order): string {
  const label = statusLabel(order.status);
  return order.statusReason && order.status !== OrderStatus.CONFIRMED ? `${label}: ${order.statusReason}` : label;
}

/** Whether the order will not change any more by itself. */
export function isFinal(status: OrderStatus): boolean {
  return status === OrderStatus.CONFIRMED || status === OrderStatus.REJECTED || status === OrderStatus.CANCELLED;
}
