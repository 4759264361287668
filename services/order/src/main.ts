import { hostname } from "node:os";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { createClient, createLogger, initTracing, installProcessHandlers, serve, service } from "@shop/platform";
import { openDatabase } from "@shop/platform/database";
import { connectMessaging, createPublisher, declareExchange, startOutboxRelay } from "@shop/platform/messaging";
import { orderAccess } from "./access.js";
import { loadOrderConfig } from "./order-config.js";
import { OrderEvents } from "./order-events.js";
import { startOrderFeed } from "./order-feed.js";
import { createOrderService } from "./order-service.js";
import { startRecovery } from "./recovery.js";
import { OrderSaga } from "./saga.js";
import { OrderStore } from "./store.js";

const config = loadOrderConfig();
initTracing(config.service.name); // before the clients, which would otherwise name the process after their service
const logger = createLogger(config.service.name, config.service.logLevel);
installProcessHandlers(logger);

const db = await openDatabase(config.database, logger);
const store = new OrderStore(db);
const exchange = `${config.messaging.prefix}${config.eventsExchange}`;
const events = new OrderEvents(exchange);
// Unary calls on the platform's http2 transport: about half of grpc-js's client CPU per call (bench/README.md).
const inventory = createClient(InventoryService, config.inventoryUrl, {
  transport: "http2",
  mesh: { tls: config.service.tls, server: "inventory" },
});
const payment = createClient(PaymentService, config.paymentUrl, {
  transport: "http2",
  mesh: { tls: config.service.tls, server: "payment" },
});
const saga = new OrderSaga({ store, inventory, payment, events, logger, options: config.saga });

// Status changes write order events into the outbox; the relay publishes them to the events
// exchange, where each subscriber's queue (notification's, every order replica's feed) takes them.
const amqp = connectMessaging({
  url: config.messaging.url,
  connectionName: `order@${hostname()}:${process.pid}`,
  logger,
  declare: (channel) => declareExchange(channel, exchange, "topic"),
});
const publisher = createPublisher(amqp, { exchange, logger });
const relay = startOutboxRelay({ db, publisher, logger });
const feed = startOrderFeed({ connection: amqp, events, prefix: config.messaging.prefix, exchange: config.eventsExchange, logger });

const orders = createOrderService({
  store,
  saga,
  events,
  watchStreamsPerUser: config.watchStreamsPerUser,
  recoveryGraceMs: config.saga.leaseMs,
});
const server = await serve(config.service, [service(OrderService, orders, orderAccess)], {
  logger,
  // The broker is not a readiness dependency: the outbox keeps notifications while it is away.
  readiness: { database: () => db.ping() },
});
const recovery = startRecovery({ store, saga, logger }, config.saga.recoveryIntervalMs);

server.onShutdown(async () => {
  await recovery.stop();
  await feed.close();
  await relay.stop();
  await publisher.close();
  await amqp.close();
  inventory.close();
  payment.close();
  await db.close();
});
