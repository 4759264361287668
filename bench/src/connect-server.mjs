// A bare @connectrpc/connect-node server (h2c, gRPC + Connect protocols) answering GetProduct with
// the same message as bench/platform/server.mjs: no interceptors, no database.
// Prints {"port":N} on stderr once listening.   node bench/src/connect-server.mjs
import http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { product } from "./product.mjs";

const handler = connectNodeAdapter({
  routes(router) {
    router.service(InventoryService, { getProduct: (request) => product(request.sku) });
  },
});
const server = http2.createServer(handler);
server.listen(0, "127.0.0.1", () => process.stderr.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
