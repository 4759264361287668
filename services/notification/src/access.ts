import type { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import type { AccessPolicy } from "@shop/platform";

/** Customers read their notifications through the gateway, which names them. */
export const notificationAccess: AccessPolicy<typeof NotificationService> = {
  callers: {
    getNotification: ["gateway"],
    listNotifications: ["gateway"],
  },
  userAsserters: ["gateway"],
};
