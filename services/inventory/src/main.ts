import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { createLogger, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { startExpirySweep } from "./expiry-sweep.js";
import { loadInventoryConfig } from "./inventory-config.js";
import { createInventoryService } from "./inventory-service.js";
import { InventoryStore } from "./store.js";

const config = loadInventoryConfig();
const logger = createLogger(config.service.name, config.service.logLevel);
const db = await openDatabase(config.database, logger);
const store = new InventoryStore(db);

const server = await serve(
  config.service,
  [service(InventoryService, createInventoryService({ store, defaultTtlMs: config.reservationTtlMs }))],
  {
    logger,
    readiness: { database: () => db.ping() },
  },
);

const sweep = startExpirySweep(store, logger, config.expirySweepMs);

server.onShutdown(async () => {
  await sweep.stop(); // a sweep in progress finishes before its database closes
  await db.close();
});
