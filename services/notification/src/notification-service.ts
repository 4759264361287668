import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { NotificationChannel, NotificationSchema, type Notification } from "@shop/contracts/shop/notification/v1/notification_pb";
import type { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { invalidArgument, notFound } from "@shop/platform";
import type { ChannelName } from "./channel-provider.js";
import type { Delivery, NotificationStore } from "./store.js";

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;

const CHANNEL_ENUM: Record<ChannelName, NotificationChannel> = {
  email: NotificationChannel.EMAIL,
  sms: NotificationChannel.SMS,
  push: NotificationChannel.PUSH,
};

/** The gRPC face of the notification record: reads scoped to the caller in `x-user-id` when present. */
export function createNotificationService(deps: { store: NotificationStore }): ServiceImpl<typeof NotificationService> {
  return {
    async getNotification({ notificationId }, ctx) {
      if (!notificationId) throw invalidArgument([{ field: "notification_id", description: "required" }]);
      const delivery = await deps.store.getDelivery(notificationId, callerId(ctx));
      if (!delivery) throw notFound("NOTIFICATION_NOT_FOUND", { type: "notification", name: notificationId });
      return { notification: toNotification(delivery) };
    },
    async listNotifications(req, ctx) {
      if (req.pageSize < 0) throw invalidArgument([{ field: "page_size", description: "must not be negative" }]);
      const pageSize = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const page = await deps.store.listDeliveries({
        userId: callerId(ctx),
        orderId: req.orderId,
        recipient: req.recipient,
        pageSize,
        afterSeq: decodePageToken(req.pageToken),
      });
      return { notifications: page.deliveries.map(toNotification), nextPageToken: page.nextSeq === undefined ? "" : encodePageToken(page.nextSeq) };
    },
  };
}

function callerId(ctx: HandlerContext): string | undefined {
  return ctx.requestHeader.get("x-user-id") ?? undefined;
}

function encodePageToken(seq: bigint): string {
  return Buffer.from(`seq:${seq}`).toString("base64url");
}

function decodePageToken(token: string): bigint | undefined {
  if (!token) return undefined;
  const match = /^seq:(\d+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match?.[1]) throw invalidArgument([{ field: "page_token", description: "not a token this service issued" }]);
  return BigInt(match[1]);
}

function toNotification(d: Delivery): Notification {
  return create(NotificationSchema, {
    notificationId: d.notificationId,
    commandId: d.commandId,
    channel: CHANNEL_ENUM[d.channel],
    recipient: d.recipient,
    template: d.template,
    parameters: d.parameters,
    body: d.body,
    orderId: d.orderId,
    userId: d.userId,
    deliverTime: timestampFromDate(d.deliveredAt),
  });
}
