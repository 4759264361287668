import { fileURLToPath } from "node:url";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { loadServiceConfig, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { createPaymentService } from "./payment-service.js";
import { createSimulatedProcessor } from "./processor.js";
import { PaymentStore } from "./store.js";

const config = loadServiceConfig("payment");
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const db = await openDatabase({
  url: process.env["DATABASE_URL"] || undefined,
  dataDir: process.env["PAYMENT_DATA_DIR"] ?? `${repoRoot}.data/payment`,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
});

const server = await serve(config, [service(PaymentService, createPaymentService({ store: new PaymentStore(db), processor: createSimulatedProcessor() }))], {
  readiness: { database: () => db.ping() },
});
server.onShutdown(() => db.close());
