import type { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import type { AccessPolicy } from "@shop/platform";

/** Orders are placed, read and cancelled through the gateway, which names the customer. */
export const orderAccess: AccessPolicy<typeof OrderService> = {
  callers: {
    createOrder: ["gateway"],
    getOrder: ["gateway"],
    listOrders: ["gateway"],
    cancelOrder: ["gateway"],
    watchOrder: ["gateway"],
  },
  userAsserters: ["gateway"],
};
