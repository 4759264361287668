import { create } from "@bufbuild/protobuf";
import { type Client, Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { type ListNotificationsRequest, NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { badRequest, createLogger, errorInfo } from "@shop/platform";
import type { Database } from "@shop/platform/database";
import { refusal } from "@shop/platform/testing/errors";
import { validateRequests } from "@shop/platform/validation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logChannelProvider } from "../src/channel-provider.js";
import { createCommandHandler } from "../src/command-handler.js";
import { createNotificationService } from "../src/notification-service.js";
import { createNotificationStore } from "../src/store.js";
import { notificationTestDatabase } from "./harness.js";

/**
 * The notification read handlers over their real store on an in-memory PGlite database, called
 * through a Connect client over an in-memory router transport. The deliveries they read are
 * recorded by the real command handler, as the RabbitMQ consumer records them.
 */
const ADA_ORDERS = 25;

let db: Database;
let notifications: Client<typeof NotificationService>;
/** Ada's command ids, oldest first. */
const adaCommands: string[] = [];

const as = (userId: string) => ({ headers: { "x-user-id": userId } });
const ada = as("ada");
const bob = as("bob");

beforeAll(async () => {
  db = await notificationTestDatabase();
  const store = createNotificationStore(db);
  const logger = createLogger("notification-test", "silent");
  const deliver = createCommandHandler({ store, provider: logChannelProvider(logger), logger });
  const info = { messageId: undefined, attempts: 0, redelivered: false, headers: {} };
  const send = async (commandId: string, userId: string, recipient: string, orderId: string, template = "order_confirmed") => {
    const parameters = { order_id: orderId, total: "12.99 EUR", reason: "out of stock" };
    const channel = NotificationChannel.EMAIL;
    await deliver(create(SendNotificationCommandSchema, { commandId, channel, recipient, template, orderId, userId, parameters }), info);
  };
  // Ada: 25 notifications over 5 orders, one order's mail sent to her work address; Bob: 3.
  for (let i = 1; i <= ADA_ORDERS; i += 1) {
    const orderId = `ord_ada_${i % 5}`;
    const recipient = i % 5 === 0 ? "ada@work.example" : "ada@example.com";
    const commandId = `ada-${String(i).padStart(2, "0")}`;
    await send(commandId, "ada", recipient, orderId);
    adaCommands.push(commandId);
  }
  for (let i = 1; i <= 3; i += 1) await send(`bob-${i}`, "bob", "bob@example.com", `ord_bob_${i}`, "order_rejected");

  const impl = createNotificationService({ store });
  notifications = createClient(
    NotificationService,
    createRouterTransport(({ service }) => service(NotificationService, impl), { router: { interceptors: [validateRequests] } }),
  );
});

afterAll(async () => {
  await db?.close();
});

const fields = (error: unknown) => badRequest(error)?.fieldViolations.map((violation) => violation.field);

type ListInit = Partial<Pick<ListNotificationsRequest, "pageSize" | "pageToken" | "orderId" | "recipient">>;

/** Every page of a listing with fixed filters; the command ids in order, and the page count. */
async function walk(request: ListInit, options: { headers?: Record<string, string> }): Promise<{ commandIds: string[]; pages: number }> {
  const commandIds: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await notifications.listNotifications({ ...request, pageToken }, options);
    commandIds.push(...page.notifications.map((n) => n.commandId));
    pageToken = page.nextPageToken;
    pages += 1;
    if (pages > 50) throw new Error("pagination does not end");
  } while (pageToken !== "");
  return { commandIds, pages };
}

/** A page token with its decoded JSON parts edited: a token this service never issued. */
function tampered(token: string, edit: (parts: unknown[]) => unknown[]): string {
  const parts = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
  return Buffer.from(JSON.stringify(edit(parts))).toString("base64url");
}

async function firstOf(userId: string) {
  const [first] = (await notifications.listNotifications({ pageSize: 1 }, as(userId))).notifications;
  expect(first).toBeDefined();
  return first!;
}

describe("GetNotification through an in-memory Connect transport", () => {
  it("returns the caller's notification as delivered: channel, recipient, template, parameters, rendered body, time", async () => {
    const listed = await firstOf("bob");
    const { notification } = await notifications.getNotification({ notificationId: listed.notificationId }, bob);
    expect(notification?.notificationId).toMatch(/^ntf_/);
    expect(notification?.commandId).toBe("bob-3");
    expect(notification?.channel).toBe(NotificationChannel.EMAIL);
    expect(notification?.recipient).toBe("bob@example.com");
    expect(notification?.template).toBe("order_rejected");
    expect(notification?.parameters).toMatchObject({ order_id: "ord_bob_3" });
    expect(notification?.body).toBe("Sorry, your order ord_bob_3 could not be placed: out of stock. You have not been charged.");
    expect(notification?.orderId).toBe("ord_bob_3");
    expect(notification?.userId).toBe("bob");
    expect(notification?.deliverTime?.seconds).toBeGreaterThan(0n);
  });

  it("returns NOT_FOUND with reason NOTIFICATION_NOT_FOUND for an unknown notification", async () => {
    const error = await refusal(notifications.getNotification({ notificationId: "ntf_unknown" }, ada));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("NOTIFICATION_NOT_FOUND");
  });

  it("returns NOT_FOUND with reason NOTIFICATION_NOT_FOUND for another user's notification, exactly as for an unknown one", async () => {
    const bobs = await firstOf("bob");
    const error = await refusal(notifications.getNotification({ notificationId: bobs.notificationId }, ada));
    expect(error.code).toBe(Code.NotFound);
    expect(errorInfo(error)?.reason).toBe("NOTIFICATION_NOT_FOUND");
  });

  it("returns INVALID_ARGUMENT with a notification_id field violation when none is given", async () => {
    const error = await refusal(notifications.getNotification({ notificationId: "" }, ada));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["notification_id"]);
  });

  it("returns UNAUTHENTICATED with reason MISSING_USER to a call that names no user, never anyone's notification", async () => {
    const bobs = await firstOf("bob");
    const error = await refusal(notifications.getNotification({ notificationId: bobs.notificationId }));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(errorInfo(error)?.reason).toBe("MISSING_USER");
    const listing = await refusal(notifications.listNotifications({ pageSize: 2 }));
    expect(listing.code).toBe(Code.Unauthenticated);
  });
});

describe("ListNotifications through an in-memory Connect transport", () => {
  it("returns each of the caller's notifications exactly once, newest first, across pages, and no one else's", async () => {
    const { commandIds, pages } = await walk({ pageSize: 6 }, ada);
    expect(commandIds).toEqual([...adaCommands].reverse());
    expect(pages).toBe(Math.ceil(ADA_ORDERS / 6));
    expect((await walk({ pageSize: 2 }, bob)).commandIds).toEqual(["bob-3", "bob-2", "bob-1"]);
  });

  it("keeps the filters across pages: by order, and by recipient", async () => {
    const byOrder = await walk({ pageSize: 2, orderId: "ord_ada_1" }, ada);
    expect(byOrder.commandIds).toEqual(["ada-21", "ada-16", "ada-11", "ada-06", "ada-01"]);
    const byRecipient = await walk({ pageSize: 2, recipient: "ada@work.example" }, ada);
    expect(byRecipient.commandIds).toEqual(["ada-25", "ada-20", "ada-15", "ada-10", "ada-05"]);
    expect((await walk({ orderId: "ord_ada_1" }, bob)).commandIds).toEqual([]);
  });

  it("serves 20 notifications for page_size 0, with a token for the rest", async () => {
    const page = await notifications.listNotifications({ pageSize: 0 }, ada);
    expect(page.notifications).toHaveLength(20);
    const rest = await notifications.listNotifications({ pageToken: page.nextPageToken }, ada);
    expect(rest.notifications.map((n) => n.commandId)).toEqual(adaCommands.slice(0, ADA_ORDERS - 20).reverse());
    expect(rest.nextPageToken).toBe("");
  });

  it("returns INVALID_ARGUMENT with a page_size field violation for a negative page_size", async () => {
    const error = await refusal(notifications.listNotifications({ pageSize: -5 }, ada));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["page_size"]);
  });

  it("returns INVALID_ARGUMENT with a page_token field violation for a token issued to another caller", async () => {
    const { nextPageToken } = await notifications.listNotifications({ pageSize: 2 }, ada);
    const error = await refusal(notifications.listNotifications({ pageSize: 2, pageToken: nextPageToken }, bob));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(fields(error)).toEqual(["page_token"]);
  });

  it("returns INVALID_ARGUMENT with a page_token field violation for a token replayed with other filters", async () => {
    const { nextPageToken } = await notifications.listNotifications({ pageSize: 2, orderId: "ord_ada_1" }, ada);
    const replays: ListInit[] = [{}, { orderId: "ord_ada_2" }, { orderId: "ord_ada_1", recipient: "ada@example.com" }];
    for (const filters of replays) {
      const error = await refusal(notifications.listNotifications({ ...filters, pageSize: 2, pageToken: nextPageToken }, ada));
      expect(error.code, JSON.stringify(filters)).toBe(Code.InvalidArgument);
      expect(fields(error)).toEqual(["page_token"]);
    }
  });

  it("returns INVALID_ARGUMENT with a page_token field violation for garbage, truncated and forged tokens", async () => {
    const { nextPageToken } = await notifications.listNotifications({ pageSize: 2 }, ada);
    const forged = [
      "bogus!",
      "W10",
      nextPageToken.slice(0, 10),
      tampered(nextPageToken, ([, digest, seq]) => ["p2", digest, seq]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, "0"]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, "-3"]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, "1e3"]),
      tampered(nextPageToken, ([version, digest]) => [version, digest, "9999999999999999999"]),
      tampered(nextPageToken, ([version, digest, seq]) => [version, digest, seq, "extra"]),
    ];
    for (const pageToken of forged) {
      const error = await refusal(notifications.listNotifications({ pageSize: 2, pageToken }, ada));
      expect(error.code, pageToken).toBe(Code.InvalidArgument);
      expect(fields(error), pageToken).toEqual(["page_token"]);
    }
  });
});
