import type { DescService } from "@bufbuild/protobuf";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";

/**
 * Every service whose descriptors this gateway is built with: what GATEWAY_FRONTED_SERVICES may name.
 * Which of them it fronts is configuration; which methods it exposes is their annotations.
 */
export const SERVICE_CATALOGUE: readonly DescService[] = [OrderService, InventoryService, NotificationService, PaymentService];

/** The catalogued service with this full name (`shop.order.v1.OrderService`), if any. */
export function catalogueService(typeName: string): DescService | undefined {
  return SERVICE_CATALOGUE.find((service) => service.typeName === typeName);
}
