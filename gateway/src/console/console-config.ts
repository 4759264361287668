import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConfigError } from "@shop/platform";
import { loadMessagingConfig } from "@shop/platform/messaging/config";

/** Development-only operator token for the mesh console; refused when NODE_ENV=production. */
export const DEV_OPERATOR_TOKEN = "shop-mesh-dev-operator-token";

/** The admin ports the console watches when GATEWAY_CONSOLE_SERVICES is unset: `npm start`'s (ARCHITECTURE.md). */
const DEFAULT_SERVICES =
  "order=http://127.0.0.1:9051,inventory=http://127.0.0.1:9052,payment=http://127.0.0.1:9053,notification=http://127.0.0.1:9054";

/** The mesh console served at /console on the gateway's admin port. */
export interface ConsoleConfig {
  /** Bearer token every /console/api call must carry; undefined turns the console off (production without a token). */
  token: string | undefined;
  /** Each watched service's name and admin URL (its /readyz and /metrics). */
  services: ReadonlyArray<{ name: string; adminUrl: string }>;
  /** Main queues whose DLQ the console manages, prefix included; more are found in the services' queue metrics. */
  queues: readonly string[];
  /** The broker holding the queues (AMQP_URL). */
  amqpUrl: string;
  /** The built console (web/dist-console). */
  root: string;
}

/**
 * The operator token: GATEWAY_OPERATOR_TOKEN, or the contents of the file GATEWAY_OPERATOR_TOKEN_FILE
 * names; else the development token outside production and no console in production. Production
 * refuses the development token.
 */
function operatorToken(env: NodeJS.ProcessEnv, production: boolean): string | undefined {
  const file = env.GATEWAY_OPERATOR_TOKEN_FILE;
  let token = env.GATEWAY_OPERATOR_TOKEN || undefined;
  if (token === undefined && file) {
    try {
      token = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new ConfigError(`GATEWAY_OPERATOR_TOKEN_FILE names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code})`);
    }
  }
  if (production && token === DEV_OPERATOR_TOKEN) {
    throw new ConfigError("NODE_ENV=production refuses the development operator token: set GATEWAY_OPERATOR_TOKEN to 32+ random bytes");
  }
  if (token !== undefined && Buffer.byteLength(token) < 16) throw new ConfigError("GATEWAY_OPERATOR_TOKEN must be at least 16 bytes");
  return token ?? (production ? undefined : DEV_OPERATOR_TOKEN);
}

function services(env: NodeJS.ProcessEnv): Array<{ name: string; adminUrl: string }> {
  const raw = env.GATEWAY_CONSOLE_SERVICES ?? DEFAULT_SERVICES;
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name = "", adminUrl = ""] = entry.split("=", 2).map((part) => part.trim());
      if (!/^[a-z][a-z0-9-]*$/.test(name) || !URL.canParse(adminUrl)) {
        throw new ConfigError(`GATEWAY_CONSOLE_SERVICES must be name=http://host:admin-port pairs separated by commas, got "${entry}"`);
      }
      return { name, adminUrl: adminUrl.replace(/\/+$/, "") };
    });
}

/** Reads the console's GATEWAY_OPERATOR_TOKEN(_FILE), GATEWAY_CONSOLE_SERVICES, GATEWAY_CONSOLE_QUEUES, AMQP_URL and AMQP_PREFIX. */
export function loadConsoleConfig(env: NodeJS.ProcessEnv, production: boolean): ConsoleConfig {
  const { url, prefix } = loadMessagingConfig(env);
  const queues = (env.GATEWAY_CONSOLE_QUEUES ?? "shop.notifications.commands")
    .split(",")
    .map((queue) => queue.trim())
    .filter(Boolean)
    .map((queue) => `${prefix}${queue}`);
  return {
    token: operatorToken(env, production),
    services: services(env),
    queues,
    amqpUrl: url,
    root: env.GATEWAY_CONSOLE_ROOT || fileURLToPath(new URL("../../../web/dist-console", import.meta.url)),
  };
}
