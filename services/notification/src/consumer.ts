import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import type { Logger } from "@shop/platform";
import { type Consumer, type MessagingConnection, startConsumer, type Topology } from "@shop/platform/messaging";
import type { ChannelProvider } from "./channel-provider.js";
import { createCommandHandler } from "./command-handler.js";
import { createOrderEventHandler, NOTIFIED_ORDER_EVENTS } from "./order-event-handler.js";
import type { NotificationStore } from "./store.js";

/** What the notification consumers need. */
export interface NotificationConsumerDeps {
  connection: MessagingConnection;
  topology: Topology;
  store: NotificationStore;
  provider: ChannelProvider;
  logger: Logger;
  prefetch?: number;
}

/** Starts consuming SendNotificationCommand (explicit commands) from the command queue into the store and provider. */
export function startNotificationConsumer(deps: NotificationConsumerDeps): Consumer {
  return startConsumer({
    connection: deps.connection,
    topology: deps.topology,
    schema: SendNotificationCommandSchema,
    handle: createCommandHandler({ store: deps.store, provider: deps.provider, logger: deps.logger, maxBatch: deps.prefetch ?? 16 }),
    logger: deps.logger,
    prefetch: deps.prefetch ?? 16,
  });
}

/** Starts consuming order events from this service's queue on the events exchange: each final status is one notification. */
export function startOrderEventConsumer(deps: NotificationConsumerDeps): Consumer {
  return startConsumer({
    connection: deps.connection,
    topology: deps.topology,
    messages: NOTIFIED_ORDER_EVENTS,
    handle: createOrderEventHandler({ store: deps.store, provider: deps.provider, logger: deps.logger, maxBatch: deps.prefetch ?? 16 }),
    logger: deps.logger,
    prefetch: deps.prefetch ?? 16,
  });
}
