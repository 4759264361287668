export { type ConsumerConfig, loadConsumerConfig, loadMessagingConfig, type MessagingConfig } from "./config.js";
export {
  type ChannelSetup,
  connectMessaging,
  type ManagedChannel,
  type MessagingConnection,
  type MessagingConnectionOptions,
} from "./connection.js";
export {
  ATTEMPTS_HEADER,
  type Consumer,
  type ConsumerOptions,
  type DeliveryInfo,
  ERROR_HEADER,
  FAILED_AT_HEADER,
  startConsumer,
  UnprocessableMessageError,
} from "./consumer.js";
export { type DeadLetter, type DeadLetterQueue, deadLetterQueue } from "./dead-letter-queue.js";
export {
  enqueueOutbox,
  OUTBOX_CLAIMS_SQL,
  OUTBOX_TABLE_SQL,
  type OutboxMessage,
  type OutboxStatement,
  queryWithOutbox,
} from "./outbox.js";
export { type OutboxBacklog, type OutboxRelay, type OutboxRelayOptions, startOutboxRelay } from "./outbox-relay.js";
export { createPublisher, PublishError, type Publisher, type PublisherOptions, type PublishFailure, type RawPublish } from "./publisher.js";
export { registerQueueMetrics } from "./queue-metrics.js";
export {
  type BroadcastTopologyOptions,
  broadcastTopology,
  type CommandTopologyOptions,
  commandTopology,
  DEFAULT_RETRY_DELAYS_MS,
  declareExchange,
  declareTopology,
  type ExchangeType,
  type QueueBinding,
  type SubscriberTopologyOptions,
  subscriberTopology,
  type Topology,
} from "./topology.js";
export { type AmqpHeaders, extractTraceContext, injectTraceHeaders } from "./trace-headers.js";
