import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import {
  type SendNotificationCommand,
  SendNotificationCommandSchema,
} from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { type Order, OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import type { Money } from "@shop/contracts/shop/type/v1/money_pb";
import type { OutboxMessage } from "@shop/platform/messaging";

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
 * The outbox row for a notification command: binary protobuf, routed by its full type name, with
 * the command id as message id (the notification service de-duplicates by it).
 */
export function notificationMessage(command: SendNotificationCommand): OutboxMessage<typeof SendNotificationCommandSchema> {
  return {
    schema: SendNotificationCommandSchema,
    message: command,
    messageId: command.commandId,
    routingKey: SendNotificationCommandSchema.typeName,
  };
}
