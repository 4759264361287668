import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { Logger } from "@shop/platform";
import { type Consumer, type MessagingConnection, startConsumer, type Topology } from "@shop/platform/messaging";
import type { ChannelProvider } from "./channel-provider.js";
import { createCommandHandler } from "./command-handler.js";
import type { NotificationStore } from "./store.js";

/** What the notification consumer needs. */
export interface NotificationConsumerDeps {
  connection: MessagingConnection;
  topology: Topology;
  store: NotificationStore;
  provider: ChannelProvider;
  logger: Logger;
  prefetch?: number;
}

/** Starts consuming SendNotificationCommand from the main queue into the store and provider. */
export function startNotificationConsumer(deps: NotificationConsumerDeps): Consumer {
  return startConsumer({
    connection: deps.connection,
    topology: deps.topology,
    schema: SendNotificationCommandSchema,
    handle: createCommandHandler({ store: deps.store, provider: deps.provider, logger: deps.logger }),
    logger: deps.logger,
    prefetch: deps.prefetch ?? 16,
  });
}
