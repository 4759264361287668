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

/** The default provider: writes each notification to the log instead of sending it. */
export function logChannelProvider(logger: Logger): ChannelProvider {
  return {
    name: "log",
    async send(n) {
      logger.info(
        {
          event: "notification.sent",
          provider: "log",
          notificationId: n.notificationId,
          commandId: n.commandId,
          channel: n.channel,
          recipient: n.recipient,
          subject: n.subject,
        },
        n.body,
      );
    },
  };
}
