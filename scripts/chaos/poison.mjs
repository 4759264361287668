// The poison the run injects on purpose — notification commands that can never be decoded, which the consumer
// must dead-letter at once and keep consuming — and the removal of the run's queues and exchanges afterwards.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { connect } from "amqplib";

const run = promisify(execFile);
const EXCHANGE = "shop.notifications";
const ROUTING_KEY = "shop.notification.v1.SendNotificationCommand";

/** Publishes `count` undecodable commands to the run's notification exchange; resolves to their message ids. */
export async function injectPoison(amqpUrl, prefix, count) {
  const connection = await connect(amqpUrl);
  const ids = Array.from({ length: count }, (_, i) => `chaos-poison-${i + 1}`);
  try {
    const channel = await connection.createConfirmChannel();
    for (const id of ids)
      channel.publish(`${prefix}${EXCHANGE}`, ROUTING_KEY, Buffer.from("not a protobuf \xff\xfe"), {
        messageId: id,
        type: ROUTING_KEY,
        persistent: true,
      });
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await connection.close();
  }
  return ids;
}

/** Deletes every queue and exchange whose name starts with the run's prefix. */
export async function removeQueues(amqpUrl, prefix) {
  const list = async (command) =>
    JSON.parse((await run("rabbitmqctl", ["-q", "--formatter", "json", command, "name"])).stdout).map((row) => row.name);
  const [queues, exchanges] = await Promise.all([list("list_queues"), list("list_exchanges")]);
  const connection = await connect(amqpUrl);
  try {
    for (const queue of queues.filter((name) => name.startsWith(prefix))) {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    for (const exchange of exchanges.filter((name) => name.startsWith(prefix))) {
      const channel = await connection.createChannel();
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close();
  }
}
