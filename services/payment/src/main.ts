import { fileURLToPath } from "node:url";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { loadServiceConfig, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { createPaymentService } from "./payment-service.js";
import { SimulatedCardProcessor } from "./processor.js";
import { PaymentStore } from "./store.js";

const config = loadServiceConfig("payment", process.env);
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const db = await openDatabase({
  url: process.env["PAYMENT_DATABASE_URL"] || process.env["DATABASE_URL"] || undefined,
  // PAYMENT_DATA_DIR="" keeps the embedded database in memory.
  dataDir: process.env["PAYMENT_DATA_DIR"] ?? `${repoRoot}.data/payment`,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
});

const payments = createPaymentService({ store: new PaymentStore(db), processor: new SimulatedCardProcessor() });
const server = await serve(config, [service(PaymentService, payments)], {
  readiness: { database: () => db.ping() },
});
server.onShutdown(() => db.close());
