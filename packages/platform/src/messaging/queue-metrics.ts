import { Gauge, type Registry } from "prom-client";
import { metricsRegistry } from "../observability/metrics.js";
import type { MessagingConnection } from "./connection.js";
import type { Topology } from "./topology.js";

/**
 * Registers `amqp_queue_messages{queue}` (ready messages in the main queue, each retry tier and
 * the DLQ) of each topology and `amqp_queue_consumers{queue}`, read from the broker at scrape time.
 * Per-process (exclusive) topologies have no names to watch and are skipped.
 */
export function registerQueueMetrics(
  connection: MessagingConnection,
  topologies: Topology | readonly Topology[],
  registry: Registry = metricsRegistry,
): void {
  const queues = (Array.isArray(topologies) ? topologies : [topologies])
    .filter((topology: Topology) => !topology.exclusive)
    .flatMap((topology: Topology) => [topology.mainQueue, topology.deadLetterQueue, ...topology.retryQueues.map((t) => t.name)]);
  if (registry.getSingleMetric("amqp_queue_messages")) return;
  const channel = connection.channel();
  const consumers = new Gauge({ name: "amqp_queue_consumers", help: "Consumers on a queue", labelNames: ["queue"], registers: [registry] });
  new Gauge({
    name: "amqp_queue_messages",
    help: "Messages ready in a queue (main, retry tiers, DLQ)",
    labelNames: ["queue"],
    registers: [registry],
    async collect() {
      const ch = channel.current();
      if (!ch) return;
      for (const queue of queues) {
        try {
          const q = await ch.checkQueue(queue);
          this.set({ queue }, q.messageCount);
          consumers.set({ queue }, q.consumerCount);
        } catch {
          return; // a missing queue closes the channel; it re-opens by itself
        }
      }
    },
  });
}
