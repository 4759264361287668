import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { createLogger, installProcessHandlers, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { inventoryAccess } from "./access.js";
import { startExpirySweep } from "./expiry-sweep.js";
import { loadInventoryConfig } from "./inventory-config.js";
import { createInventoryService } from "./inventory-service.js";
import { InventoryStore } from "./store.js";

const config = loadInventoryConfig();
const logger = createLogger(config.service.name, config.service.logLevel);
installProcessHandlers(logger);
const db = await openDatabase(config.database, logger);
const store = new InventoryStore(db);

const inventory = createInventoryService({ store, defaultTtlMs: config.reservationTtlMs });
const server = await serve(config.service, [service(InventoryService, inventory, inventoryAccess)], {
  logger,
  readiness: { database: () => db.ping() },
});

const sweep = startExpirySweep(store, logger, config.expirySweepMs);

server.onShutdown(async () => {
  await sweep.stop(); // a sweep in progress finishes before its database closes
  await db.close();
});
