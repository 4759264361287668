import { create, isMessage, type MessageShape } from "@bufbuild/protobuf";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import {
  type SendNotificationCommand,
  SendNotificationCommandSchema,
} from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { OrderCancelledSchema, OrderConfirmedSchema, OrderRejectedSchema } from "@shop/contracts/shop/order/v1/order_events_pb";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import { type DeliveryInfo, UnprocessableMessageError } from "@shop/platform/messaging";
import { type CommandHandlerDeps, createCommandHandler } from "./command-handler.js";

/**
 * The order events this service turns into notifications. What it reads of them — and nothing
 * else — is pinned by test/order-events-contract.test.ts against the producer's descriptors.
 */
export const NOTIFIED_ORDER_EVENTS = [OrderConfirmedSchema, OrderRejectedSchema, OrderCancelledSchema] as const;

/** One of the events in {@link NOTIFIED_ORDER_EVENTS}. */
export type NotifiedOrderEvent = MessageShape<(typeof NOTIFIED_ORDER_EVENTS)[number]>;

/**
 * The notification an order event owes the customer, as the command this service would take
 * for it. Its id is "<order id>.<template>", so an event delivered twice (or the same status
 * announced again) is one notification: one per final status per order.
 */
export function notificationFor(event: NotifiedOrderEvent): SendNotificationCommand {
  const order = event.order;
  if (!order?.orderId) throw new UnprocessableMessageError(`${event.$typeName} without an order id`);
  const template = isMessage(event, OrderConfirmedSchema)
    ? "order_confirmed"
    : isMessage(event, OrderRejectedSchema)
      ? "order_rejected"
      : "order_cancelled";
  const reason = isMessage(event, OrderConfirmedSchema) ? "" : event.reason;
  return create(SendNotificationCommandSchema, {
    commandId: `${order.orderId}.${template}`,
    channel: NotificationChannel.EMAIL,
    recipient: order.email,
    template,
    orderId: order.orderId,
    userId: order.userId,
    ...(event.occurTime ? { createTime: event.occurTime } : {}),
    parameters: {
      order_id: order.orderId,
      status: OrderStatus[order.status] ?? "",
      total: order.total ? formatMoney(order.total) : "",
      items: String(order.lines.reduce((sum, line) => sum + line.quantity, 0)),
      reason,
    },
  });
}

/** "19.99 EUR" for {EUR, 1999}: two minor digits, which holds for the shop's currencies. */
export function formatMoney(money: Money): string {
  const minor = money.amountMinor;
  const units = minor / 100n;
  const cents = (minor % 100n).toString().padStart(2, "0");
  return `${units}.${cents} ${money.currencyCode}`;
}

/** Handles one order event: the notification it owes goes through the command handler (claim, send, commit). */
export function createOrderEventHandler(deps: CommandHandlerDeps): (event: NotifiedOrderEvent, delivery: DeliveryInfo) => Promise<void> {
  const handleCommand = createCommandHandler(deps);
  return (event, delivery) => handleCommand(notificationFor(event), delivery);
}
