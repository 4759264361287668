import type { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import type { AccessPolicy } from "@shop/platform";

/**
 * The catalogue is read by the gateway and the order service; only the order saga holds, commits
 * and gives back stock; only an operator restocks. The gateway and order may name the customer a
 * call is made for (order passes it on), though no inventory method needs one.
 */
export const inventoryAccess: AccessPolicy<typeof InventoryService> = {
  callers: {
    getProduct: ["gateway", "order"],
    listProducts: ["gateway", "order"],
    reserveStock: ["order"],
    commitReservation: ["order"],
    releaseReservation: ["order"],
    restockProduct: ["operator"],
  },
  userAsserters: ["gateway", "order"],
};
