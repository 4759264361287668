import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, createLogger, loadServiceConfig, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { connectMessaging, createPublisher, loadMessagingConfig, startOutboxRelay } from "@shop/platform/messaging";
import { enqueueOrderNotification } from "./notifications.js";
import { loadOrderSettings } from "./order-config.js";
import { OrderEvents } from "./order-events.js";
import { createOrderService } from "./order-service.js";
import { startRecovery } from "./recovery.js";
import { OrderSaga } from "./saga.js";
import { OrderStore } from "./store.js";

const config = loadServiceConfig("order");
const settings = loadOrderSettings();
const messaging = loadMessagingConfig();
const logger = createLogger(config.name);

const db = await openDatabase({
  url: settings.databaseUrl,
  dataDir: settings.dataDir,
  migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)),
});
const store = new OrderStore(db, enqueueOrderNotification);
const events = new OrderEvents();
const inventory = createClient(InventoryService, settings.inventoryUrl);
const payment = createClient(PaymentService, settings.paymentUrl);
const saga = new OrderSaga({ store, inventory, payment, events, logger, options: settings });

const amqp = connectMessaging({
  url: messaging.url,
  connectionName: `order@${hostname()}:${process.pid}`,
  logger,
  topology: messaging.topology,
});
const publisher = createPublisher(amqp, { exchange: messaging.topology.exchange, logger });
const relay = startOutboxRelay({ db, publisher, logger });

const server = await serve(config, [service(OrderService, createOrderService({ store, saga, events, watchPollMs: settings.watchPollMs, recoveryGraceMs: settings.leaseMs }))], {
  // The broker is not a readiness dependency: the outbox keeps notifications while it is away.
  readiness: { database: () => db.ping() },
});
const recovery = startRecovery({ store, saga, logger }, settings.recoveryIntervalMs);

server.onShutdown(async () => {
  await recovery.stop();
  await relay.stop();
  await publisher.close();
  await amqp.close();
  inventory.close();
  payment.close();
  await db.close();
});
