// `npm run compose:secrets`: everything docker-compose.yml needs that must not be in the repository,
// made once on this machine (all git-ignored) and kept on later runs:
//   .env                                  random passwords and the gateway's JWT secret (compose reads it)
//   .secrets/jwks.json                    the same JWT secret as a JWKS, for Envoy's jwt_authn
//   .secrets/rabbitmq-definitions.json    RabbitMQ's users (an administrator, order, notification, console) with
//                                         salted password hashes and permissions on their own names only
//   .certs/                               the mesh's development CA and workload certificates (npm run certs)
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureCertificates } from "./certs.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECRET_VARIABLES = [
  "GATEWAY_JWT_SECRET",
  "POSTGRES_PASSWORD",
  "ORDER_DB_PASSWORD",
  "INVENTORY_DB_PASSWORD",
  "PAYMENT_DB_PASSWORD",
  "NOTIFICATION_DB_PASSWORD",
  "RABBITMQ_ADMIN_PASSWORD",
  "ORDER_AMQP_PASSWORD",
  "NOTIFICATION_AMQP_PASSWORD",
  "CONSOLE_AMQP_PASSWORD",
];

/** The key=value lines of a .env file. */
function readEnvFile(path) {
  if (!existsSync(path)) return {};
  const entries = readFileSync(path, "utf8")
    .split("\n")
    .map((line) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
    .filter(Boolean)
    .map((match) => [match[1], match[2]]);
  return Object.fromEntries(entries);
}

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt ‖ sha256(salt ‖ password)), 4-byte salt. */
export function rabbitPasswordHash(password, salt = randomBytes(4)) {
  const digest = createHash("sha256")
    .update(Buffer.concat([salt, Buffer.from(password, "utf8")]))
    .digest();
  return Buffer.concat([salt, digest]).toString("base64");
}

/**
 * The broker's users: an administrator for the management UI, and one user per workload that may
 * touch only its own exchange and queues — order publishes its events to shop.events and binds
 * each replica's exclusive, broker-named queue (amq.gen-…) to it; notification declares, binds,
 * consumes and forwards (retry tiers, DLQ) under shop.notifications and binds its order-events
 * queue to shop.events; console (the gateway's mesh console) reads dead-letter queues and replays
 * through the default exchange.
 */
export function rabbitDefinitions(env) {
  const user = (name, password, tags) => ({
    name,
    password_hash: rabbitPasswordHash(password),
    hashing_algorithm: "rabbit_password_hashing_sha256",
    tags,
  });
  const permission = (name, configure, write, read) => ({ user: name, vhost: "/", configure, write, read });
  return {
    users: [
      user("admin", env.RABBITMQ_ADMIN_PASSWORD, ["administrator"]),
      user("order", env.ORDER_AMQP_PASSWORD, []),
      user("notification", env.NOTIFICATION_AMQP_PASSWORD, []),
      user("console", env.CONSOLE_AMQP_PASSWORD, []),
    ],
    vhosts: [{ name: "/" }],
    permissions: [
      permission("admin", ".*", ".*", ".*"),
      permission("order", "^(shop\\.events|amq\\.gen-.*)$", "^(shop\\.events|amq\\.gen-.*)$", "^(shop\\.events|amq\\.gen-.*)$"),
      permission(
        "notification",
        "^(shop\\.notifications(\\..*)?|shop\\.events)$",
        "^(shop\\.notifications(\\..*)?|amq\\.default)$",
        "^(shop\\.notifications(\\..*)?|shop\\.events)$",
      ),
      // List, show and purge a DLQ (basic.get, queue.purge: read); replay = publish to the main queue by name.
      permission("console", "^$", "^amq\\.default$", "^shop\\..*\\.dlq$"),
    ],
  };
}

/** The group of the image's unprivileged `node` user (uid and gid 1000 in node:<version>-bookworm-slim). */
export const CONTAINER_GID = 1000;
/** The workloads docker-compose.yml mounts a certificate folder for. */
export const COMPOSE_WORKLOADS = ["order", "inventory", "payment", "notification", "gateway"];

/**
 * Keys are written 0600 by their owner, and a bind mount keeps the host's owner and mode: the image's non-root
 * `node` user could not read them. Each mounted folder and its key become readable by the container's group
 * (folder 0750, key 0640, group CONTAINER_GID) and by nobody else, as a Secret volume's fsGroup does on
 * Kubernetes. Returns what it could not change (not root and not a member of that group) as messages.
 */
export function shareKeysWithContainer(certsDir, workloads = COMPOSE_WORKLOADS, gid = CONTAINER_GID) {
  const problems = [];
  for (const workload of workloads) {
    const dir = join(certsDir, workload);
    for (const [path, mode] of [
      [dir, 0o750],
      [join(dir, "tls.key"), 0o640],
    ]) {
      try {
        const { uid, gid: current } = statSync(path);
        if (current !== gid) chownSync(path, uid, gid);
        chmodSync(path, mode);
      } catch (error) {
        problems.push(`${path}: ${error.code ?? error.message} — run: sudo chgrp ${gid} ${path} && sudo chmod ${mode.toString(8)} ${path}`);
      }
    }
  }
  return problems;
}

/** A JWKS holding the HS256 secret, as Envoy's jwt_authn reads it. */
export function hs256Jwks(secret) {
  return { keys: [{ kty: "oct", alg: "HS256", k: Buffer.from(secret, "utf8").toString("base64url") }] };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const envPath = join(root, ".env");
  const env = readEnvFile(envPath);
  const made = SECRET_VARIABLES.filter((name) => !env[name]);
  for (const name of made) env[name] = randomBytes(32).toString("base64url");
  writeFileSync(
    envPath,
    `${Object.entries(env)
      .map(([key, value]) => `${key}=${value}`)
      .join("\n")}\n`,
    { mode: 0o600 },
  );
  const secrets = join(root, ".secrets");
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  // Readable by the containers' own users (envoy, rabbitmq), like a mounted Secret; the folder stays private.
  writeFileSync(join(secrets, "jwks.json"), JSON.stringify(hs256Jwks(env.GATEWAY_JWT_SECRET)), { mode: 0o644 });
  writeFileSync(join(secrets, "rabbitmq-definitions.json"), JSON.stringify(rabbitDefinitions(env), null, 2), { mode: 0o644 });
  const certificates = await ensureCertificates();
  const unshared = shareKeysWithContainer(certificates.dir);
  for (const problem of unshared) console.warn(`[compose] the containers' node user cannot read ${problem}`);
  console.log(made.length > 0 ? `[compose] new secrets in .env: ${made.join(", ")}` : "[compose] .env already holds every secret");
  console.log(`[compose] .secrets/jwks.json, .secrets/rabbitmq-definitions.json; certificates in ${certificates.dir}`);
}
