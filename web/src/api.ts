import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { currentSession } from "./session.js";
import { traceContext } from "./trace-context.js";

// Adds the signed-in user's bearer token to every call that has one.
const bearer: Interceptor = (next) => (request) => {
  const session = currentSession();
  if (session) request.header.set("authorization", `Bearer ${session.token}`);
  return next(request);
};

// Same origin as the page: the gateway serves both the UI and the API.
const transport = createConnectTransport({ baseUrl: window.location.origin, interceptors: [bearer, traceContext] });

/** Clients for the gateway's public methods (Connect protocol, JSON, over fetch). */
export const api = {
  inventory: createClient(InventoryService, transport),
  orders: createClient(OrderService, transport),
  notifications: createClient(NotificationService, transport),
};
