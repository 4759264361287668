import type { Logger } from "@shop/platform";

/** The channel names stored in the database. */
export type ChannelName = "email" | "sms" | "push";

/** One notification ready to go out. */
export interface OutgoingNotification {
  notificationId: string;
  /** Pass it on as the provider's idempotency key where the provider has one. */
  commandId: string;
  channel: ChannelName;
  recipient: string;
  subject: string;
  body: string;
}

/** Sends notifications to customers (e-mail, SMS, push). A throw means "not sent, retry later". */
export interface ChannelProvider {
  readonly name: string;
  send(notification: OutgoingNotification): Promise<void>;
}

/**
 * The default provider: notes each notification in the log instead of sending it. At info it names
 * the notification, never its recipient or body (personal data stays out of the logs a service
 * ships); at debug (LOG_LEVEL=debug, a developer's machine) it shows the message as it would go out.
 */
export function logChannelProvider(logger: Logger): ChannelProvider {
  return {
    name: "log",
    async send(n) {
      const fields = {
        event: "notification.sent",
        provider: "log",
        notificationId: n.notificationId,
        commandId: n.commandId,
        channel: n.channel,
      };
      logger.info(fields, "notification sent (log provider)");
      logger.debug({ ...fields, recipient: n.recipient, subject: n.subject, body: n.body }, "notification content (log provider)");
    },
  };
}
