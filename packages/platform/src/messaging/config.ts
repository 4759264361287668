import { envInteger, envIntegerList, envPrefix } from "../env.js";
import { DEFAULT_RETRY_DELAYS_MS } from "./topology.js";

/** How to reach RabbitMQ; the same for every service of a deployment. */
export interface MessagingConfig {
  /** AMQP_URL, default amqp://guest:guest@127.0.0.1:5672. */
  url: string;
  /** AMQP_PREFIX, default "": put in front of every exchange and queue name (test runs, shared brokers). */
  prefix: string;
}

/** How one service consumes its queue. */
export interface ConsumerConfig {
  /** `<NAME>_RETRY_DELAYS_MS`, default "1000,5000,30000": the back-off tiers before the DLQ. */
  retryDelaysMs: number[];
  /** `<NAME>_PREFETCH`, default 16: unacked deliveries in flight. */
  prefetch: number;
}

/** Reads AMQP_URL and AMQP_PREFIX. */
export function loadMessagingConfig(env: NodeJS.ProcessEnv = process.env): MessagingConfig {
  return { url: env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672", prefix: env.AMQP_PREFIX ?? "" };
}

/** Reads a consuming service's `<NAME>_RETRY_DELAYS_MS` and `<NAME>_PREFETCH`; a malformed value stops start-up naming it. */
export function loadConsumerConfig(name: string, env: NodeJS.ProcessEnv = process.env): ConsumerConfig {
  const prefix = envPrefix(name);
  return {
    retryDelaysMs: envIntegerList(env, `${prefix}_RETRY_DELAYS_MS`, DEFAULT_RETRY_DELAYS_MS),
    prefetch: envInteger(env, `${prefix}_PREFETCH`, 16, { min: 1, max: 1_000 }),
  };
}
