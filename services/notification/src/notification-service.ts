import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Notification, NotificationChannel, NotificationSchema } from "@shop/contracts/shop/notification/v1/notification_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { endUser, notFound, pagination } from "@shop/platform";
import type { ChannelName } from "./channel-provider.js";
import type { Delivery, NotificationStore } from "./store.js";

/** ListNotifications pages by delivery sequence, newest first. */
const listPages = pagination<bigint>({
  method: NotificationService.method.listNotifications,
  key: { encode: (seq) => [seq.toString()], decode: ([seq]) => deliverySeq(seq) },
});
const MAX_BIGINT = 2n ** 63n - 1n;

/** A delivery sequence number from a page token: a positive bigint, never more than the column holds. */
function deliverySeq(text: string | undefined): bigint | undefined {
  if (text === undefined || !/^[1-9]\d{0,18}$/.test(text)) return undefined;
  const seq = BigInt(text);
  return seq <= MAX_BIGINT ? seq : undefined;
}

const CHANNEL_ENUM: Record<ChannelName, NotificationChannel> = {
  email: NotificationChannel.EMAIL,
  sms: NotificationChannel.SMS,
  push: NotificationChannel.PUSH,
};

/** The gRPC face of the notification record: every read is scoped to the end user the call is made for. */
export function createNotificationService(deps: { store: NotificationStore }): ServiceImpl<typeof NotificationService> {
  return {
    async getNotification({ notificationId }, ctx) {
      const delivery = await deps.store.getDelivery(notificationId, endUser(ctx));
      if (!delivery) throw notFound("NOTIFICATION_NOT_FOUND", { type: "notification", name: notificationId });
      return { notification: toNotification(delivery) };
    },
    async listNotifications(req, ctx) {
      const userId = endUser(ctx);
      const page = listPages.read(req, [userId, req.orderId, req.recipient]);
      const deliveries = await deps.store.listDeliveries({
        userId,
        orderId: req.orderId,
        recipient: req.recipient,
        limit: page.fetch,
        afterSeq: page.after,
      });
      const { items, nextPageToken } = page.finish(deliveries, (delivery) => delivery.seq);
      return { notifications: items.map(toNotification), nextPageToken };
    },
  };
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
