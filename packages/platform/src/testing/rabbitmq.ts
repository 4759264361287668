import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { type ChannelModel, connect } from "amqplib";
import type { Logger } from "pino";
import { connectMessaging, type MessagingConnection, type MessagingConnectionOptions } from "../messaging/connection.js";
import { createPublisher, type Publisher } from "../messaging/publisher.js";
import { declareTopology, type Topology } from "../messaging/topology.js";

const run = promisify(execFile);

/** The local test broker (RabbitMQ at 127.0.0.1:5672, guest/guest) unless AMQP_URL says otherwise. */
export const TEST_AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** Names one test run owns on the shared broker, and how to clean them up. */
export interface RabbitTestScope {
  url: string;
  /** Unique per run, e.g. "test-notify-1a2b3c4d."; put before every queue and exchange name. */
  prefix: string;
  /** Use as the connection's `connection_name`, so the run can close only its own connections. */
  connectionName: string;
  /** Closes, from the broker side, every connection whose connection_name starts with the prefix; returns how many. */
  closeConnectionsFromBroker(): Promise<number>;
  /** Deletes every queue and exchange whose name starts with the prefix. */
  cleanup(): Promise<void>;
  /** This run's queues as the broker reports them: type, and messages ready plus unacknowledged. */
  queues(): Promise<Map<string, QueueState>>;
  /**
   * Resolves once every queue of this run but the dead-letter queues (`*.dlq`, where letters stay)
   * holds no message, ready or unacknowledged — every copy published so far has been consumed and
   * acked: the explicit "all delivered" signal, instead of a quiet window that a late duplicate could
   * outlast. Throws after `timeoutMs`.
   */
  drained(timeoutMs?: number): Promise<void>;
  /**
   * A connection of this scope that declares `topology`, once connected, and a confirm publisher
   * to its exchange: what most messaging tests start from.
   */
  connectTo(
    topology: Topology,
    logger: Logger,
    reconnect?: MessagingConnectionOptions["reconnect"],
  ): Promise<{ connection: MessagingConnection; publisher: Publisher }>;
  /**
   * `connectTo`, plus a bare amqplib connection to look at queues as the broker holds them; all
   * three are closed by `cleanup()` — a test file's whole RabbitMQ set-up in one call.
   */
  open(
    topology: Topology,
    logger: Logger,
    reconnect?: MessagingConnectionOptions["reconnect"],
  ): Promise<{ connection: MessagingConnection; publisher: Publisher; raw: ChannelModel }>;
}

/** One queue as `rabbitmqctl list_queues` reports it. */
export interface QueueState {
  type: string;
  /** Ready plus unacknowledged. */
  messages: number;
}

/** A fresh scope with a random prefix; call `cleanup()` in afterAll. */
export function rabbitTestScope(label = "test"): RabbitTestScope {
  const prefix = `${label}-${randomBytes(4).toString("hex")}.`;
  // What `open` made, closed (publisher, connection, then the bare one) by `cleanup`.
  const opened: Array<() => Promise<void>> = [];
  return {
    url: TEST_AMQP_URL,
    prefix,
    connectionName: `${prefix}conn`,
    async connectTo(topology, logger, reconnect) {
      const connection = connectMessaging({
        url: TEST_AMQP_URL,
        connectionName: `${prefix}conn`,
        logger,
        declare: (channel) => declareTopology(channel, topology),
        ...(reconnect ? { reconnect } : {}),
      });
      await connection.waitForConnect(10_000);
      return { connection, publisher: createPublisher(connection, { exchange: topology.exchange, logger }) };
    },
    async open(topology, logger, reconnect) {
      const { connection, publisher } = await this.connectTo(topology, logger, reconnect);
      const raw = await connect(TEST_AMQP_URL);
      opened.push(
        () => publisher.close(),
        () => connection.close(),
        () => raw.close(),
      );
      return { connection, publisher, raw };
    },
    async closeConnectionsFromBroker() {
      const pids = (await listConnections()).filter((c) => c.clientProperties.includes(`"${prefix}`)).map((c) => c.pid);
      for (const pid of pids) await run("rabbitmqctl", ["-q", "close_connection", pid, "test"]);
      return pids.length;
    },
    async queues() {
      const { stdout } = await run("rabbitmqctl", ["-q", "--formatter", "json", "list_queues", "name", "type", "messages"]);
      const rows = JSON.parse(stdout) as Array<{ name: string; type: string; messages: number | string }>;
      return new Map(
        rows.filter((row) => row.name.startsWith(prefix)).map((row) => [row.name, { type: row.type, messages: Number(row.messages) }]),
      );
    },
    async drained(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const busy = [...(await this.queues())].filter(([name, queue]) => !name.endsWith(".dlq") && queue.messages > 0);
        if (busy.length === 0) return;
        if (Date.now() > deadline)
          throw new Error(
            `queues still hold messages after ${timeoutMs} ms: ${busy.map(([name, q]) => `${name}=${q.messages}`).join(", ")}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async cleanup() {
      for (const close of opened.splice(0)) await close().catch(() => undefined);
      const [queues, exchanges] = await Promise.all([listNames("list_queues"), listNames("list_exchanges")]);
      const conn = await connect(TEST_AMQP_URL);
      try {
        for (const queue of queues.filter((n) => n.startsWith(prefix))) {
          const ch = await conn.createChannel();
          await ch.deleteQueue(queue).catch(() => undefined);
          await ch.close().catch(() => undefined);
        }
        for (const exchange of exchanges.filter((n) => n.startsWith(prefix))) {
          const ch = await conn.createChannel();
          await ch.deleteExchange(exchange).catch(() => undefined);
          await ch.close().catch(() => undefined);
        }
      } finally {
        await conn.close();
      }
    },
  };
}

async function listNames(command: "list_queues" | "list_exchanges"): Promise<string[]> {
  const { stdout } = await run("rabbitmqctl", ["-q", "--formatter", "json", command, "name"]);
  return (JSON.parse(stdout) as Array<{ name: string }>).map((row) => row.name);
}

/** Connections as `rabbitmqctl` prints them: the pid close_connection takes, and the client properties as text. */
async function listConnections(): Promise<Array<{ pid: string; clientProperties: string }>> {
  // JSON output renders pids as #PID<...>, which close_connection does not accept; the table form does.
  const { stdout } = await run("rabbitmqctl", ["-q", "--no-table-headers", "list_connections", "pid", "client_properties"]);
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("<"))
    .map((line) => {
      const tab = line.indexOf("\t");
      return { pid: line.slice(0, tab), clientProperties: line.slice(tab + 1) };
    });
}
