import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import type { SendNotificationCommand } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { Logger } from "@shop/platform";
import type { DeliveryInfo } from "@shop/platform/messaging";
import { UnprocessableMessageError } from "@shop/platform/messaging";
import type { ChannelName, ChannelProvider } from "./channel-provider.js";
import { createDeliveryBatcher } from "./delivery-batch.js";
import { type NotificationStore, newNotificationId } from "./store.js";
import { renderTemplate } from "./templates.js";

/** What the command handler needs. */
export interface CommandHandlerDeps {
  store: NotificationStore;
  provider: ChannelProvider;
  logger: Logger;
  /** Most commands recorded in one transaction (the consumer's prefetch); default 16. */
  maxBatch?: number;
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
 * Commands handled at the same time share one transaction (`createDeliveryBatcher`: one claim
 * statement, one commit), each with the outcome it would have had alone.
 */
export function createCommandHandler(
  deps: CommandHandlerDeps,
): (command: SendNotificationCommand, delivery: DeliveryInfo) => Promise<void> {
  const batcher = createDeliveryBatcher({ store: deps.store, provider: deps.provider, maxBatch: deps.maxBatch ?? 16 });
  return async (command, delivery) => {
    const channel = CHANNELS[command.channel];
    if (!command.commandId) throw new UnprocessableMessageError("command_id is empty");
    if (!channel) throw new UnprocessableMessageError(`channel ${command.channel} is not deliverable`);
    if (!command.recipient) throw new UnprocessableMessageError("recipient is empty");
    const rendered = renderTemplate(command.template, command.parameters);
    const notificationId = newNotificationId();

    const sent = await batcher.deliver({
      delivery: {
        notificationId,
        commandId: command.commandId,
        channel,
        recipient: command.recipient,
        template: command.template,
        parameters: { ...command.parameters },
        body: rendered.body,
        orderId: command.orderId,
        userId: command.userId,
      },
      outgoing: {
        notificationId,
        commandId: command.commandId,
        channel,
        recipient: command.recipient,
        subject: rendered.subject,
        body: rendered.body,
      },
    });
    // The delivery's logger (made on first use) only when the line will be written; the command's
    // fields go with the line rather than into a child logger of its own.
    if (!deps.logger.isLevelEnabled("info")) return;
    const log = delivery.log ?? deps.logger;
    const fields = { commandId: command.commandId, attempt: delivery.attempts + 1 };
    if (sent)
      log.info(
        { ...fields, event: "notification.delivered", notificationId, template: command.template, orderId: command.orderId },
        "notification delivered",
      );
    else log.info({ ...fields, event: "notification.duplicate" }, "command already delivered; skipped");
  };
}
