// `npm start` (after the build): checks RabbitMQ, starts every service as its own process with
// prefixed logs, waits until each one is ready, prints how to call the mesh, and on Ctrl-C
// stops them all gracefully (SIGTERM, they drain in-flight calls).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const colors = [36, 33, 35, 32, 34];

/** Start order matters only for readability: dependencies first. */
const services = [
  { name: "inventory", main: "services/inventory/dist/main.js", adminPort: 9052, port: 50052 },
  { name: "payment", main: "services/payment/dist/main.js", adminPort: 9053, port: 50053 },
  { name: "notification", main: "services/notification/dist/main.js", adminPort: 9054, port: 50054 },
  { name: "order", main: "services/order/dist/main.js", adminPort: 9051, port: 50051 },
  { name: "gateway", main: "gateway/dist/main.js", adminPort: 9080, port: 8080 },
].filter((service) => existsSync(join(root, service.main)));

const amqpUrl = new URL(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
if (!(await reachable(amqpUrl.hostname, Number(amqpUrl.port || 5672)))) {
  console.error(`RabbitMQ is not reachable at ${amqpUrl.hostname}:${amqpUrl.port || 5672}.
Start one, then run npm start again:
  Debian/Ubuntu:  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached
  Docker:         docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:3-management
or point AMQP_URL at yours.`);
  process.exit(1);
}

const children = services.map((service, i) => {
  const child = spawn(process.execPath, [join(root, service.main)], { cwd: root, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
  const prefix = `\x1b[${colors[i % colors.length]}m${service.name.padEnd(12)}|\x1b[0m `;
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = "";
    stream.on("data", (chunk) => {
      const lines = (buffered + chunk).split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) process.stdout.write(prefix + line + "\n");
    });
  }
  child.on("exit", (code, signal) => {
    console.log(`${prefix}exited (${signal ?? code})`);
    if (!stopping) shutdown(1);
  });
  return child;
});

let stopping = false;
function shutdown(exitCode = 0) {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the mesh…");
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.on("exit", resolve)) : null))).then(() =>
    process.exit(exitCode),
  );
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

const deadline = Date.now() + 180_000; // a first start initialises four embedded databases
for (const service of services) {
  while (!(await ready(service.adminPort))) {
    if (stopping) break;
    if (Date.now() > deadline) {
      console.error(`${service.name} did not become ready within 180 s`);
      shutdown(1);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
if (!stopping) {
  console.log(`
The mesh is up (every service SERVING):
${services.map((s) => `  ${s.name.padEnd(12)} gRPC ${s.name === "gateway" ? "http" : "h2c"}://localhost:${s.port}   admin http://localhost:${s.adminPort}/metrics`).join("\n")}

Try it (no local protos needed, the services serve reflection):
  npx buf curl --protocol grpc --http2-prior-knowledge --list-methods http://localhost:50052
  npx buf curl --protocol grpc --http2-prior-knowledge --data '{"pageSize": 3}' http://localhost:50052/shop.inventory.v1.InventoryService/ListProducts
  npx buf curl --protocol grpc --http2-prior-knowledge -H 'x-user-id: alice' \\
    --data '{"requestId": "'$(node -p 'crypto.randomUUID()')'", "items": [{"sku": "SKU-MUG-001", "quantity": 1}], "cardToken": "tok_visa", "email": "alice@example.com"}' \\
    http://localhost:50051/shop.order.v1.OrderService/CreateOrder
${existsSync(join(root, "gateway/dist/main.js")) ? "  open http://localhost:8080 for the storefront\n" : ""}
Ctrl-C stops everything.`);
}

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.on("connect", () => (socket.destroy(), resolve(true)));
    socket.on("error", () => resolve(false));
    socket.on("timeout", () => (socket.destroy(), resolve(false)));
  });
}

async function ready(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return response.ok;
  } catch {
    return false;
  }
}
