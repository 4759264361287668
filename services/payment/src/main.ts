import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createLogger, installProcessHandlers, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { paymentAccess } from "./access.js";
import { loadPaymentConfig } from "./payment-config.js";
import { createPaymentService } from "./payment-service.js";
import { SimulatedCardProcessor } from "./processor.js";
import { PaymentStore } from "./store.js";

const config = loadPaymentConfig();
const logger = createLogger(config.service.name, config.service.logLevel);
installProcessHandlers(logger);
const db = await openDatabase(config.database, logger);

const payments = createPaymentService({ store: new PaymentStore(db), processor: new SimulatedCardProcessor() });
const server = await serve(config.service, [service(PaymentService, payments, paymentAccess)], {
  logger,
  readiness: { database: () => db.ping() },
});
server.onShutdown(() => db.close());
