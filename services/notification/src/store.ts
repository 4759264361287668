import { randomBytes } from "node:crypto";
import type { Database, Queryable } from "@shop/platform/database";
import type { ChannelName } from "./channel-provider.js";

/** A delivery as recorded. */
export interface Delivery {
  /** Its place in the order deliveries were recorded (ListNotifications pages by it). */
  seq: bigint;
  notificationId: string;
  commandId: string;
  channel: ChannelName;
  recipient: string;
  template: string;
  parameters: Record<string, string>;
  body: string;
  orderId: string;
  userId: string;
  deliveredAt: Date;
}

/** Filters and page of `listDeliveries`. */
export interface DeliveryQuery {
  /** Only this user's deliveries. */
  userId: string;
  orderId?: string | undefined;
  recipient?: string | undefined;
  limit: number;
  /** Return rows older than this sequence number (exclusive). */
  afterSeq?: bigint | undefined;
}

interface DeliveryRow extends Record<string, unknown> {
  seq: string | number | bigint;
  notification_id: string;
  command_id: string;
  channel: string;
  recipient: string;
  template: string;
  parameters: Record<string, string> | string;
  body: string;
  order_id: string;
  user_id: string;
  delivered_at: Date | string;
}

/** The notification service's own tables. */
export interface NotificationStore {
  readonly db: Database;
  /**
   * Claims `commandId` by inserting its delivery inside `tx`; false when the command was
   * already recorded (ON CONFLICT DO NOTHING — a concurrent duplicate waits on the unique key).
   */
  recordDelivery(tx: Queryable, delivery: Omit<Delivery, "seq" | "deliveredAt">): Promise<boolean>;
  /**
   * `recordDelivery` for several deliveries in one statement (their command ids distinct): the
   * command ids it claimed, in `tx`. The others were recorded already.
   */
  recordDeliveries(tx: Queryable, deliveries: readonly Omit<Delivery, "seq" | "deliveredAt">[]): Promise<Set<string>>;
  /** Takes back, inside `tx`, the claims of these command ids made earlier in `tx` (their sends failed). */
  releaseDeliveries(tx: Queryable, commandIds: readonly string[]): Promise<void>;
  /** One delivery of this user's. */
  getDelivery(notificationId: string, userId: string): Promise<Delivery | undefined>;
  /** Up to `limit` deliveries, newest first. */
  listDeliveries(query: DeliveryQuery): Promise<Delivery[]>;
  /** The delivery recorded for a command, if any. */
  deliveryForCommand(commandId: string): Promise<Delivery | undefined>;
}

let randomPool = Buffer.alloc(0);
let randomAt = 0;

/** A new notification id, e.g. "ntf_lx3k2a9f1c2d3e4f5a6b": time-prefixed so ids sort roughly by creation. */
export function newNotificationId(): string {
  if (randomAt + 6 > randomPool.length) {
    randomPool = randomBytes(6 * 512); // one call for 512 ids: a call each cost more than the rest of the id
    randomAt = 0;
  }
  randomAt += 6;
  return `ntf_${Date.now().toString(36)}${randomPool.toString("hex", randomAt - 6, randomAt)}`;
}

/** The store over `db` (migrations already applied). */
export function createNotificationStore(db: Database): NotificationStore {
  return {
    db,
    async recordDelivery(tx, d) {
      const result = await tx.query(
        `insert into deliveries (notification_id, command_id, channel, recipient, template, parameters, body, order_id, user_id)
         values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) on conflict (command_id) do nothing returning command_id`,
        [d.notificationId, d.commandId, d.channel, d.recipient, d.template, JSON.stringify(d.parameters), d.body, d.orderId, d.userId],
      );
      return result.rows.length === 1;
    },
    async recordDeliveries(tx, ds) {
      // One JSON parameter rather than nine text arrays: JSON.stringify is native, where the driver
      // escapes each element of an array parameter in JavaScript (its largest cost per command).
      const { rows } = await tx.query<{ command_id: string }>(
        `insert into deliveries (notification_id, command_id, channel, recipient, template, parameters, body, order_id, user_id)
         select n, c, ch, r, t, p, b, o, u
         from json_to_recordset($1::json)
           as d(n text, c text, ch text, r text, t text, p jsonb, b text, o text, u text)
         on conflict (command_id) do nothing returning command_id`,
        [
          JSON.stringify(
            ds.map((d) => ({
              n: d.notificationId,
              c: d.commandId,
              ch: d.channel,
              r: d.recipient,
              t: d.template,
              p: d.parameters,
              b: d.body,
              o: d.orderId,
              u: d.userId,
            })),
          ),
        ],
      );
      return new Set(rows.map((row) => row.command_id));
    },
    async releaseDeliveries(tx, commandIds) {
      await tx.query(`delete from deliveries where command_id = any($1::text[])`, [commandIds]);
    },
    async getDelivery(notificationId, userId) {
      const { rows } = await db.query<DeliveryRow>(`select * from deliveries where notification_id = $1 and user_id = $2`, [
        notificationId,
        userId,
      ]);
      return rows[0] ? toDelivery(rows[0]) : undefined;
    },
    async deliveryForCommand(commandId) {
      const { rows } = await db.query<DeliveryRow>(`select * from deliveries where command_id = $1`, [commandId]);
      return rows[0] ? toDelivery(rows[0]) : undefined;
    },
    async listDeliveries(q) {
      const { rows } = await db.query<DeliveryRow>(
        `select * from deliveries
         where user_id = $1 and ($2::text is null or order_id = $2)
           and ($3::text is null or recipient = $3) and ($4::bigint is null or seq < $4)
         order by seq desc limit $5`,
        [q.userId, q.orderId || null, q.recipient || null, q.afterSeq?.toString() ?? null, q.limit],
      );
      return rows.map(toDelivery);
    },
  };
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    seq: BigInt(row.seq),
    notificationId: row.notification_id,
    commandId: row.command_id,
    channel: row.channel as ChannelName,
    recipient: row.recipient,
    template: row.template,
    parameters: typeof row.parameters === "string" ? (JSON.parse(row.parameters) as Record<string, string>) : row.parameters,
    body: row.body,
    orderId: row.order_id,
    userId: row.user_id,
    deliveredAt: row.delivered_at instanceof Date ? row.delivered_at : new Date(row.delivered_at),
  };
}
