import { DEFAULT_RETRY_DELAYS_MS, notificationTopology, type Topology } from "./topology.js";

/** RabbitMQ settings shared by every service that publishes or consumes notification commands. */
export interface MessagingConfig {
  /** AMQP_URL, default amqp://guest:guest@127.0.0.1:5672. */
  url: string;
  /** From AMQP_PREFIX (default "") and NOTIFICATION_RETRY_DELAYS_MS (default "1000,5000,30000"). */
  topology: Topology;
  /** NOTIFICATION_PREFETCH, default 16. */
  prefetch: number;
}

/** Reads the messaging settings; a malformed value stops start-up with a message naming it. */
export function loadMessagingConfig(env: NodeJS.ProcessEnv = process.env): MessagingConfig {
  const delays = (env.NOTIFICATION_RETRY_DELAYS_MS ?? DEFAULT_RETRY_DELAYS_MS.join(",")).split(",").map((s) => Number(s.trim()));
  if (delays.length === 0 || delays.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`NOTIFICATION_RETRY_DELAYS_MS must be a comma-separated list of positive integers (ms), got "${env.NOTIFICATION_RETRY_DELAYS_MS}"`);
  }
  const prefetch = Number(env.NOTIFICATION_PREFETCH ?? 16);
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 1000) throw new Error(`NOTIFICATION_PREFETCH must be an integer 1..1000, got "${env.NOTIFICATION_PREFETCH}"`);
  return {
    url: env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672",
    topology: notificationTopology({ prefix: env.AMQP_PREFIX ?? "", retryDelaysMs: delays }),
    prefetch,
  };
}
