import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { OrderStatus, type Order } from "@shop/contracts/shop/order/v1/order_pb";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import {
  SendNotificationCommandSchema,
  type SendNotificationCommand,
} from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import { enqueueOutbox, SEND_NOTIFICATION_ROUTING_KEY } from "@shop/platform/messaging";
import type { OrderChangeHook } from "./store.js";

const TEMPLATES: Partial<Record<OrderStatus, string>> = {
  [OrderStatus.CONFIRMED]: "order_confirmed",
  [OrderStatus.REJECTED]: "order_rejected",
  [OrderStatus.CANCELLED]: "order_cancelled",
};

/**
 * The notification to send when an order reaches a status the customer hears about, or
 * undefined. The command id is derived from the order and template, so the same status change
 * can never produce two different commands.
 */
export function notificationFor(order: Order): SendNotificationCommand | undefined {
  const template = TEMPLATES[order.status];
  if (!template) return undefined;
  return create(SendNotificationCommandSchema, {
    commandId: `${order.orderId}.${template}`,
    channel: NotificationChannel.EMAIL,
    recipient: order.email,
    template,
    orderId: order.orderId,
    userId: order.userId,
    createTime: timestampNow(),
    parameters: {
      order_id: order.orderId,
      status: OrderStatus[order.status],
      total: order.total ? formatMoney(order.total) : "",
      items: String(order.lines.reduce((sum, line) => sum + line.quantity, 0)),
      reason: order.statusReason,
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

/**
 * The store's status-change hook: writes the order's notification command into the outbox in
 * the same transaction as the status change, for the relay to publish.
 */
export const enqueueOrderNotification: OrderChangeHook = async (tx, order) => {
  const command = notificationFor(order);
  if (!command) return;
  await enqueueOutbox(tx, {
    schema: SendNotificationCommandSchema,
    message: command,
    messageId: command.commandId,
    routingKey: SEND_NOTIFICATION_ROUTING_KEY,
  });
};
