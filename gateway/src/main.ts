// The gateway process, wiring only: reads config once, then either supervises node:cluster workers
// (cluster/primary.ts) or serves the public port itself (cluster/worker.ts; every worker runs this too).
import cluster from "node:cluster";
import { ConfigError, createLogger, installProcessHandlers } from "@shop/platform";
import { runPrimary } from "./cluster/primary.js";
import { runWorker } from "./cluster/worker.js";
import { DEV_JWT_SECRET, type GatewayConfig, loadGatewayConfig } from "./config.js";
import { DEV_OPERATOR_TOKEN } from "./console/console-config.js";

let config: GatewayConfig;
try {
  config = loadGatewayConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`gateway: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
const logger = createLogger("gateway", config.logLevel);
installProcessHandlers(logger); // primary and every worker run this file
if (cluster.isPrimary && config.jwt.jwksUrl === undefined && config.jwt.secret === DEV_JWT_SECRET) {
  logger.warn(
    { event: "development_secret" },
    "verifying tokens with the public development secret: set GATEWAY_JWT_SECRET outside a laptop",
  );
}

if (cluster.isPrimary && config.console.token === DEV_OPERATOR_TOKEN) {
  logger.warn(
    { event: "development_operator_token" },
    "the mesh console opens with the public development token: set GATEWAY_OPERATOR_TOKEN",
  );
}

if (cluster.isPrimary && config.workers > 1) {
  await runPrimary(config, logger);
} else {
  await runWorker(config, logger);
}
