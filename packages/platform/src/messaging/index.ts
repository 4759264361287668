export {
  commandTopology,
  declareTopology,
  declareExchange,
  DEFAULT_RETRY_DELAYS_MS,
  type Topology,
  type CommandTopologyOptions,
} from "./topology.js";
export {
  connectMessaging,
  type MessagingConnection,
  type MessagingConnectionOptions,
  type ManagedChannel,
  type ChannelSetup,
} from "./connection.js";
export { createPublisher, PublishError, type Publisher, type PublisherOptions, type PublishFailure, type RawPublish } from "./publisher.js";
export {
  startConsumer,
  UnprocessableMessageError,
  ATTEMPTS_HEADER,
  ERROR_HEADER,
  FAILED_AT_HEADER,
  type Consumer,
  type ConsumerOptions,
  type DeliveryInfo,
} from "./consumer.js";
export { enqueueOutbox, OUTBOX_TABLE_SQL, type OutboxMessage } from "./outbox.js";
export { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions, type OutboxBacklog } from "./outbox-relay.js";
export { injectTraceHeaders, extractTraceContext, type AmqpHeaders } from "./trace-headers.js";
export { deadLetterQueue, type DeadLetter, type DeadLetterQueue } from "./dead-letter-queue.js";
export { registerQueueMetrics } from "./queue-metrics.js";
export { loadMessagingConfig, loadConsumerConfig, type MessagingConfig, type ConsumerConfig } from "./config.js";
