import { fileURLToPath } from "node:url";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { createLogger, loadServiceConfig, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { createInventoryService } from "./inventory-service.js";
import { loadInventorySettings } from "./inventory-config.js";
import { InventoryStore } from "./store.js";

const config = loadServiceConfig("inventory", process.env);
const settings = loadInventorySettings(process.env);
const logger = createLogger(config.name, config.logLevel);
const db = await openDatabase({
  url: settings.databaseUrl,
  dataDir: settings.dataDir,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
});
const store = new InventoryStore(db);

const server = await serve(config, [service(InventoryService, createInventoryService({ store, defaultTtlMs: settings.reservationTtlMs }))], {
  logger,
  readiness: { database: () => db.ping() },
});

// Expired holds give their stock back even if nobody calls again; one sweep at a time.
let sweeping: Promise<void> | undefined;
const sweep = setInterval(() => {
  sweeping ??= store
    .expireOverdue()
    .then(
      (expired) => void (expired > 0 && logger.info({ expired }, "reservations expired")),
      (error: unknown) => logger.error({ err: error }, "expiry sweep failed"),
    )
    .finally(() => (sweeping = undefined));
}, settings.expirySweepMs);
sweep.unref();
server.onShutdown(async () => {
  clearInterval(sweep);
  await sweeping; // let a sweep in progress finish before its database closes
  await db.close();
});
