import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import {
  GetNotificationRequestSchema,
  ListNotificationsRequestSchema,
  NotificationService,
} from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { errorInfo } from "@shop/platform";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { logChannelProvider } from "../src/channel-provider.js";
import { createCommandHandler } from "../src/command-handler.js";
import { createNotificationService } from "../src/notification-service.js";
import { createNotificationStore, type NotificationStore } from "../src/store.js";
import { notificationTestDatabase } from "./harness.js";

const logger = pino({ level: "silent" });
let store: NotificationStore;
let service: ReturnType<typeof createNotificationService>;

function ctx(userId?: string): HandlerContext {
  return createHandlerContext({
    service: NotificationService,
    method: NotificationService.method.listNotifications,
    protocolName: "grpc",
    requestMethod: "POST",
    url: "http://127.0.0.1/shop.notification.v1.NotificationService/ListNotifications",
    requestHeader: userId ? { "x-user-id": userId } : {},
  });
}

const list = async (init: MessageInitShape<typeof ListNotificationsRequestSchema>, context: HandlerContext) =>
  service.listNotifications(create(ListNotificationsRequestSchema, init), context);
const get = async (notificationId: string | undefined, context: HandlerContext) =>
  service.getNotification(create(GetNotificationRequestSchema, { notificationId: notificationId ?? "" }), context);

const command = (id: string, init: Omit<MessageInitShape<typeof SendNotificationCommandSchema>, "$typeName">) =>
  create(SendNotificationCommandSchema, {
    commandId: id,
    channel: NotificationChannel.EMAIL,
    template: "order_confirmed",
    recipient: "ada@example.com",
    userId: "ada",
    ...init,
  });

beforeAll(async () => {
  store = createNotificationStore(await notificationTestDatabase());
  const handle = createCommandHandler({ store, provider: logChannelProvider(logger), logger });
  const info = { messageId: undefined, attempts: 0, redelivered: false, headers: {} };
  for (let i = 1; i <= 5; i += 1) await handle(command(`ada-${i}`, { orderId: `ord_${i}`, parameters: { order_id: `ord_${i}` } }), info);
  await handle(command("ada-cancel-1", { orderId: "ord_1", template: "order_cancelled", parameters: { order_id: "ord_1" } }), info);
  await handle(
    command("bob-1", {
      userId: "bob",
      recipient: "bob@example.com",
      orderId: "ord_9",
      template: "order_rejected",
      parameters: { order_id: "ord_9", reason: "out of stock" },
    }),
    info,
  );
  service = createNotificationService({ store });
});

describe("NotificationService", () => {
  it("returns the caller's notification with rendered body and delivery time", async () => {
    const [first] = (await list({ pageSize: 1, pageToken: "", orderId: "ord_9", recipient: "" }, ctx("bob"))).notifications!;
    const got = await get(first!.notificationId, ctx("bob"));
    expect(got.notification?.template).toBe("order_rejected");
    expect(got.notification?.body).toContain("out of stock");
    expect(got.notification?.channel).toBe(NotificationChannel.EMAIL);
    expect(got.notification?.deliverTime).toBeDefined();
  });

  it("returns NOT_FOUND with reason NOTIFICATION_NOT_FOUND for another user's notification", async () => {
    const [bobs] = (await list({ pageSize: 1, pageToken: "", orderId: "", recipient: "" }, ctx("bob"))).notifications!;
    const err = await get(bobs!.notificationId, ctx("ada")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect(errorInfo(err)?.reason).toBe("NOTIFICATION_NOT_FOUND");
  });

  it("lists only the caller's notifications, newest first, in pages", async () => {
    const page1 = await list({ pageSize: 4, pageToken: "", orderId: "", recipient: "" }, ctx("ada"));
    expect(page1.notifications!.map((n) => n.commandId)).toEqual(["ada-cancel-1", "ada-5", "ada-4", "ada-3"]);
    expect(page1.nextPageToken).not.toBe("");
    const page2 = await list({ pageSize: 4, pageToken: page1.nextPageToken!, orderId: "", recipient: "" }, ctx("ada"));
    expect(page2.notifications!.map((n) => n.commandId)).toEqual(["ada-2", "ada-1"]);
    expect(page2.nextPageToken).toBe("");
  });

  it("filters by order and by recipient", async () => {
    const byOrder = await list({ pageSize: 0, pageToken: "", orderId: "ord_1", recipient: "" }, ctx("ada"));
    expect(byOrder.notifications!.map((n) => n.template)).toEqual(["order_cancelled", "order_confirmed"]);
    const byRecipient = await list({ pageSize: 0, pageToken: "", orderId: "", recipient: "bob@example.com" }, ctx("bob"));
    expect(byRecipient.notifications!.map((n) => n.commandId)).toEqual(["bob-1"]);
    // Another user filtering by bob's address sees nothing of bob's.
    expect((await list({ pageSize: 0, pageToken: "", orderId: "", recipient: "bob@example.com" }, ctx("ada"))).notifications).toEqual([]);
  });

  it("answers UNAUTHENTICATED (MISSING_USER) to a call that names no user, never every user's notifications", async () => {
    for (const call of [() => list({ pageSize: 0, pageToken: "", orderId: "", recipient: "" }, ctx()), () => get("ntf_x", ctx())]) {
      const err = await call().catch((e: unknown) => e);
      expect((err as ConnectError).code).toBe(Code.Unauthenticated);
      expect(errorInfo(err)?.reason).toBe("MISSING_USER");
    }
  });

  it("rejects a page token it did not issue with INVALID_ARGUMENT", async () => {
    const err = await list({ pageSize: 0, pageToken: "bogus", orderId: "", recipient: "" }, ctx("ada")).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
  });
});
