// `npm start` (after the build): checks RabbitMQ, makes the development mesh certificates (mTLS
// between the services; `.certs/`, git-ignored), starts every service as its own process with
// prefixed logs, shows what each one is doing until it is ready, prints how to call the mesh,
// restarts a service that exits unexpectedly (with back-off, each restart logged: scripts/start/supervisor.mjs),
// and on Ctrl-C stops them all gracefully (SIGTERM, they drain in-flight calls).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureCertificates } from "./certs.mjs";
import { reachable } from "./local-services.mjs";
import { logLineFormatter, parseRecord } from "./start/log-format.mjs";
import { startNodeArgs, startProcessEnv } from "./start/process-env.mjs";
import { startupProgress } from "./start/progress.mjs";
import { supervise } from "./start/supervisor.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const colors = [36, 33, 35, 32, 34];
// A person at a terminal gets colour and pino-pretty's lines; a pipe or a file gets the services' JSON lines.
const tty = Boolean(process.stdout.isTTY);

/** Start order matters only for readability: dependencies first. Ports as each service reads them (`<NAME>_PORT`, `<NAME>_ADMIN_PORT`). */
const services = [
  { name: "inventory", main: "services/inventory/dist/main.js", adminPort: 9052, port: 50052 },
  { name: "payment", main: "services/payment/dist/main.js", adminPort: 9053, port: 50053 },
  { name: "notification", main: "services/notification/dist/main.js", adminPort: 9054, port: 50054 },
  { name: "order", main: "services/order/dist/main.js", adminPort: 9051, port: 50051 },
  { name: "gateway", main: "gateway/dist/main.js", adminPort: 9080, port: 8080 },
]
  .filter((service) => existsSync(join(root, service.main)))
  .map((service) => {
    const prefix = service.name.toUpperCase();
    return {
      ...service,
      port: Number(process.env[`${prefix}_PORT`] || service.port),
      adminPort: Number(process.env[`${prefix}_ADMIN_PORT`] || service.adminPort),
    };
  });

const amqpUrl = new URL(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
if (!(await reachable(amqpUrl.hostname, Number(amqpUrl.port || 5672)))) {
  console.error(`RabbitMQ is not reachable at ${amqpUrl.hostname}:${amqpUrl.port || 5672}.
Start one, then run npm start again:
  Debian/Ubuntu:  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached
  Docker:         docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:3-management
or point AMQP_URL at yours.`);
  process.exit(1);
}

// Every hop inside the mesh is mTLS: a CA and one certificate per workload, issued on the first
// start and re-issued before they expire (checked now and every 6 hours; the services re-read their
// files every minute, so a rotation needs no restart).
const certificates = await ensureCertificates();
if (certificates.newAuthority) console.log(`[certs] new development CA in ${join(certificates.dir, "ca")}`);
if (certificates.issued.length > 0) console.log(`[certs] issued ${certificates.issued.join(", ")} in ${certificates.dir}`);
const rotation = setInterval(
  () => {
    ensureCertificates().then(
      ({ issued }) => issued.length > 0 && console.log(`[certs] re-issued ${issued.join(", ")}`),
      (error) => console.error(`[certs] could not check the certificates: ${error.message}`),
    );
  },
  6 * 60 * 60 * 1000,
);
rotation.unref();

const progress = startupProgress(
  services.map((service) => service.name),
  { tty },
);
const supervised = services.map((service, i) => {
  const label = `${service.name.padEnd(12)}|`;
  const prefix = tty ? `\x1b[${colors[i % colors.length]}m${label}\x1b[0m ` : `${label} `;
  const format = logLineFormatter(service.name, { pretty: tty });
  return supervise({
    name: service.name,
    spawnChild: () =>
      spawn(process.execPath, [...startNodeArgs(), join(root, service.main)], {
        cwd: root,
        env: { ...process.env, ...startProcessEnv(service.name) },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    report: (text) => progress.print(`[start] ${text}\n`),
    onStart(child, restarts) {
      for (const stream of [child.stdout, child.stderr]) {
        let buffered = "";
        stream.on("data", (chunk) => {
          const lines = (buffered + chunk).split("\n");
          buffered = lines.pop() ?? "";
          // The latest message a service logged is its current step (opening the database, listening, SERVING…).
          for (const line of lines) {
            const message = parseRecord(line)?.msg;
            if (typeof message === "string") progress.step(service.name, message);
          }
          if (lines.length > 0) progress.print(lines.map((line) => `${prefix + format(line)}\n`).join(""));
        });
      }
      child.on("exit", (code, signal) => progress.step(service.name, `exited (${signal ?? code})`));
      if (restarts > 0) void announceWhenReady(service, child, restarts);
    },
  });
});

/** After a restart: says when the service answers /readyz again (or that it died before). */
async function announceWhenReady(service, child, restarts) {
  while (!stopping && child.exitCode === null && child.signalCode === null) {
    if (await ready(service.adminPort)) {
      progress.print(`[start] ${service.name} is ready again (SERVING) after restart ${restarts}\n`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

let stopping = false;
function shutdown(exitCode = 0) {
  if (stopping) return;
  stopping = true;
  progress.stop();
  console.log("\nstopping the mesh…");
  Promise.all(supervised.map((service) => service.stop("SIGTERM"))).then(() => process.exit(exitCode));
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

const deadline = Date.now() + 180_000; // a first start initialises four embedded databases
let waiting = services;
while (waiting.length > 0 && !stopping) {
  const answers = await Promise.all(waiting.map((service) => ready(service.adminPort)));
  for (const [i, service] of waiting.entries()) if (answers[i]) progress.ready(service.name);
  waiting = waiting.filter((_, i) => !answers[i]);
  if (waiting.length === 0 || stopping) break;
  if (Date.now() > deadline) {
    progress.print(`${waiting.map((service) => service.name).join(", ")} did not become ready within 180 s\n`);
    shutdown(1);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}
if (!stopping) {
  progress.stop();
  console.log(`
The mesh is up (every service SERVING):
${services.map(listeningLine).join("\n")}

Try it. Inside the mesh every call is mTLS: present a workload's certificate from .certs/ (here the
gateway's, which may read the catalogue and act for a customer). No local protos needed: reflection.
  MESH="--cacert .certs/gateway/ca.crt --cert .certs/gateway/tls.crt --key .certs/gateway/tls.key"
  npx buf curl --protocol grpc $MESH --list-methods https://localhost:50052
  npx buf curl --protocol grpc $MESH --data '{"pageSize": 3}' https://localhost:50052/shop.inventory.v1.InventoryService/ListProducts
  npx buf curl --protocol grpc $MESH -H 'x-user-id: alice' \\
    --data '{"requestId": "'$(node -p 'crypto.randomUUID()')'", "items": [{"sku": "SKU-MUG-001", "quantity": 1}],
             "cardToken": "tok_visa", "email": "alice@example.com"}' \\
    https://localhost:50051/shop.order.v1.OrderService/CreateOrder
${existsSync(join(root, "gateway/dist/main.js")) ? gatewayLines() : ""}
Ctrl-C stops everything.`);
}

/** Where the storefront and the mesh console open. */
function gatewayLines() {
  const token = process.env.GATEWAY_OPERATOR_TOKEN ? "your GATEWAY_OPERATOR_TOKEN" : "shop-mesh-dev-operator-token";
  return `  open http://localhost:8080 for the storefront
  open http://127.0.0.1:9080/console/ for the mesh console (operator token: ${token})\n`;
}

/** "  order        gRPC https://localhost:50051 (mTLS)   admin http://localhost:9051/metrics" */
function listeningLine(service) {
  const scheme = service.name === "gateway" ? "http" : "https";
  return `  ${service.name.padEnd(12)} gRPC ${scheme}://localhost:${service.port}   admin http://localhost:${service.adminPort}/metrics`;
}

async function ready(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}
