import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import type { SendNotificationCommand } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { Logger } from "@shop/platform";
import type { DeliveryInfo } from "@shop/platform/messaging";
import { UnprocessableMessageError } from "@shop/platform/messaging";
import type { ChannelName, ChannelProvider } from "./channel-provider.js";
import { type NotificationStore, newNotificationId } from "./store.js";
import { renderTemplate } from "./templates.js";

/** What the command handler needs. */
export interface CommandHandlerDeps {
  store: NotificationStore;
  provider: ChannelProvider;
  logger: Logger;
}

const CHANNELS: Partial<Record<NotificationChannel, ChannelName>> = {
  [NotificationChannel.EMAIL]: "email",
  [NotificationChannel.SMS]: "sms",
  [NotificationChannel.PUSH]: "push",
};

/**
 * Handles one SendNotificationCommand, exactly once per command id as far as this side can
 * make it: in ONE transaction it claims the command id (insert ... on conflict do nothing),
 * sends through the provider, and commits. A duplicate finds the id taken and sends nothing;
 * a provider failure rolls the claim back, so the retry sends. The only double send left is a
 * crash between the provider's success and the commit — the provider gets the command id as
 * its idempotency key for that case. The consumer acks only after this resolves (committed).
 */
export function createCommandHandler(
  deps: CommandHandlerDeps,
): (command: SendNotificationCommand, delivery: DeliveryInfo) => Promise<void> {
  return async (command, delivery) => {
    const log = (delivery.log ?? deps.logger).child({ commandId: command.commandId, attempt: delivery.attempts + 1 });
    const channel = CHANNELS[command.channel];
    if (!command.commandId) throw new UnprocessableMessageError("command_id is empty");
    if (!channel) throw new UnprocessableMessageError(`channel ${command.channel} is not deliverable`);
    if (!command.recipient) throw new UnprocessableMessageError("recipient is empty");
    const rendered = renderTemplate(command.template, command.parameters);
    const notificationId = newNotificationId();

    const sent = await deps.store.db.transaction(async (tx) => {
      const claimed = await deps.store.recordDelivery(tx, {
        notificationId,
        commandId: command.commandId,
        channel,
        recipient: command.recipient,
        template: command.template,
        parameters: { ...command.parameters },
        body: rendered.body,
        orderId: command.orderId,
        userId: command.userId,
      });
      if (!claimed) return false;
      await deps.provider.send({
        notificationId,
        commandId: command.commandId,
        channel,
        recipient: command.recipient,
        subject: rendered.subject,
        body: rendered.body,
      });
      return true;
    });
    if (sent)
      log.info(
        { event: "notification.delivered", notificationId, template: command.template, orderId: command.orderId },
        "notification delivered",
      );
    else log.info({ event: "notification.duplicate" }, "command already delivered; skipped");
  };
}
