// `npm run test:containers`: the Dockerfile built and docker-compose.yml run, as a user runs them, with the
// machine's container engine (podman here). Stand-ins replace the official base images when no registry is
// reachable (scripts/containers/standins.mjs). Then, through the published gateway only: an order placed with a
// token signed by the configured secret and read back CONFIRMED, its notification; payment's container stopped
// and started during a stream of orders; RabbitMQ's container restarted during another. The databases are read
// inside the postgres container (nothing of PostgreSQL or AMQP is published). `down -v` runs even on failure.
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findContainerEngine } from "../../containers/engine.mjs";
import { ensureStandins, pulled } from "../../containers/standins.mjs";
import { buildEnvoyImage, buildImage, ENVOY_IMAGE, IMAGE, imageExists, NODE_SERVICES, SERVICES, Stack } from "./stack.js";

const engine = findContainerEngine();
if (!engine) throw new Error("no container engine: scripts/containers/run-tests.mjs runs this file only when podman or docker answers");

/** Envoy runs only where its image is present or can be pulled: no registry answers on this kind of machine. */
const withEnvoy = (await imageExists(engine, ENVOY_IMAGE)) || pulled(engine.engine, ENVOY_IMAGE);
const FINAL = new Set(["ORDER_STATUS_CONFIRMED", "ORDER_STATUS_REJECTED"]);
const stack = new Stack(engine);
const log = (line: string) => console.log(`[containers] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(0)} s`;

interface Order {
  orderId: string;
  status: string;
}

/** A token as the gateway's configured issuer would sign it: HS256 with the secret from .env. */
function token(user: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(user)
    .setIssuer("shop-mesh-dev")
    .setAudience("shop-gateway")
    .setIssuedAt()
    .setExpirationTime("30m")
    .sign(new TextEncoder().encode(stack.secret));
}

async function call<T>(user: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${stack.gatewayUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${await token(user)}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, json: (await response.json().catch(() => ({}))) as T };
}

/** Places an order; on any failure (the gateway answering an error, the connection dropped) it retries the same request id. */
async function placeOrder(user: string, requestId = randomUUID(), attempts = 30): Promise<Order> {
  const body = {
    request_id: requestId,
    items: [{ sku: "SKU-NBK-005", quantity: 1 }],
    card_token: "tok_visa",
    email: `${user}@example.com`,
  };
  let last = "";
  for (let attempt = 0; attempt < attempts; attempt++) {
    const result = await call<{ order?: Order }>(user, "/v1/orders", body).catch((error: Error) => ({ status: 0, json: { error } }));
    if (result.status === 200 && "order" in result.json && result.json.order) return result.json.order;
    last = `${result.status} ${JSON.stringify(result.json).slice(0, 300)}`;
    await sleep(2000);
  }
  throw new Error(`order ${requestId} of ${user} not accepted after ${attempts} attempts: ${last}`);
}

/** Polls the order through the gateway until CONFIRMED or REJECTED. */
async function finalOrder(user: string, orderId: string, timeoutMs = 120_000): Promise<Order> {
  const deadline = Date.now() + timeoutMs;
  let last: Order | undefined;
  while (Date.now() < deadline) {
    const result = await call<{ order?: Order }>(user, `/v1/orders/${orderId}`).catch(() => undefined);
    if (result?.status === 200 && result.json.order) {
      last = result.json.order;
      if (FINAL.has(last.status)) return last;
    }
    await sleep(1000);
  }
  throw new Error(`order ${orderId} still ${last?.status ?? "unreadable"} after ${timeoutMs / 1000} s`);
}

/** Orders placed one after another every `everyMs`, while `during` runs once `after` orders are in. */
async function streamOfOrders(user: string, count: number, everyMs: number, after: number, during: () => Promise<void>): Promise<Order[]> {
  const placed: Promise<Order>[] = [];
  let disturbance: Promise<void> | undefined;
  for (let i = 0; i < count; i++) {
    if (i === after) disturbance = during();
    placed.push(placeOrder(user));
    await sleep(everyMs);
  }
  await disturbance;
  return Promise.all(placed);
}

async function rows(database: string, query: string): Promise<string[][]> {
  return stack.sql(database, query);
}

const quoted = (ids: string[]) => ids.map((id) => `'${id.replace(/'/g, "''")}'`).join(",");

describe(`the compose stack (${engine.engine})`, () => {
  beforeAll(async () => {
    let began = Date.now();
    const built = ensureStandins({ engine: engine.engine, log });
    log(built.length ? `stand-in images built in ${seconds(began)}: ${built.join(", ")}` : "stand-in images present (cached)");
    began = Date.now();
    const size = await buildImage(engine);
    log(`image shop-mesh:dev built in ${seconds(began)}: ${(size / 1e6).toFixed(0)} MB`);
    await stack.writeSecrets();
    if (withEnvoy) await buildEnvoyImage(engine);
    else log(`Envoy skipped: no Envoy image is available here (${ENVOY_IMAGE} is not present and cannot be pulled)`);
    began = Date.now();
    await stack.up(withEnvoy ? [...SERVICES, "envoy"] : SERVICES);
    await stack.waitReady(Object.keys(NODE_SERVICES), 240_000);
    log(`project ${stack.project} up and every service ready in ${seconds(began)}; gateway on ${stack.gatewayUrl}`);
  });

  afterAll(async () => {
    const began = Date.now();
    await stack.down();
    log(`project ${stack.project} down (containers, volumes, network) in ${seconds(began)}`);
  });

  it("runs the image as node under tini, with a HEALTHCHECK, holding only what runs", async () => {
    // Docker reports the healthcheck under Config, podman beside it.
    const [config] = JSON.parse(await stack.engineRun(["image", "inspect", IMAGE])) as Array<{
      Config: { User: string; Entrypoint: string[]; Healthcheck?: { Test: string[] } };
      Healthcheck?: { Test: string[] };
    }>;
    expect(config?.Config.User).toBe("node");
    expect(config?.Config.Entrypoint).toEqual(["tini", "--", "node"]);
    expect((config?.Config.Healthcheck ?? config?.Healthcheck)?.Test.join(" ")).toMatch(/readyz/);
    const order = await stack.container("order");
    // tini is PID 1 and node its child, as the unprivileged user.
    expect((await stack.engineRun(["exec", order, "cat", "/proc/1/comm"])).trim()).toBe("tini");
    expect((await stack.engineRun(["exec", order, "id", "-un"])).trim()).toBe("node");
    const listing = await stack.engineRun(["exec", order, "sh", "-c", "ls -d /app/* /app/*/* /app/*/*/* | grep -v node_modules"]);
    const paths = listing.trim().split("\n");
    expect(paths.filter((path) => /\/(src|test|bench|scripts|proto)$|tsconfig|\.ts$/.test(path) && !path.endsWith(".d.ts"))).toEqual([]);
    expect(paths).toContain("/app/services/order/dist");
    expect(paths).toContain("/app/web/dist");
    // No dev dependency made it in.
    for (const devOnly of ["typescript", "vitest", "vite", "@biomejs/biome", "@bufbuild/buf", "playwright-core"])
      expect(
        await stack.engineRun(["exec", order, "sh", "-c", `test -e /app/node_modules/${devOnly} && echo present || echo absent`]),
      ).toBe("absent\n");
  });

  it("gives each service its own PostgreSQL role owning only its database", async () => {
    const owned = await rows(
      "postgres",
      "select datname, pg_get_userbyid(datdba) from pg_database where datname not like 'template%' order by 1",
    );
    expect(Object.fromEntries(owned)).toMatchObject({
      inventory: "inventory",
      notification: "notification",
      order: "order",
      payment: "payment",
    });
  });

  it.runIf(withEnvoy)("serves the public catalogue through Envoy too", async () => {
    const deadline = Date.now() + 60_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = await fetch(`http://127.0.0.1:${stack.envoyPort}/v1/products?page_size=1`).then(
        (response) => response.status,
        () => 0,
      );
      if (status !== 200) await sleep(1000);
    }
    expect(status).toBe(200);
  });

  it("places an order through the gateway with a token signed by the configured secret, reads it back CONFIRMED, then its notification", async () => {
    const user = `alice-${randomUUID().slice(0, 8)}`;
    const anonymous = await fetch(`${stack.gatewayUrl}/v1/orders`);
    expect(anonymous.status).toBe(401);
    const order = await placeOrder(user, randomUUID(), 3);
    const confirmed = await finalOrder(user, order.orderId);
    expect(confirmed.status).toBe("ORDER_STATUS_CONFIRMED");
    const deadline = Date.now() + 60_000;
    let notifications: Array<{ orderId?: string; template?: string; recipient?: string }> = [];
    while (Date.now() < deadline) {
      notifications = (await call<{ notifications?: typeof notifications }>(user, "/v1/notifications")).json.notifications ?? [];
      if (notifications.some((n) => n.orderId === order.orderId)) break;
      await sleep(1000);
    }
    expect(notifications.filter((n) => n.orderId === order.orderId)).toEqual([
      expect.objectContaining({ template: "order_confirmed", recipient: `${user}@example.com` }),
    ]);
  });

  it("stops payment during a stream of orders and starts it again: every order CONFIRMED or REJECTED, none charged twice", async () => {
    const user = `bob-${randomUUID().slice(0, 8)}`;
    const payment = await stack.container("payment");
    const orders = await streamOfOrders(user, 12, 500, 3, async () => {
      await stack.engineRun(["stop", "-t", "10", payment]);
      // SIGTERM reached node through tini: it drained and exited 0 before the 10 s were up.
      expect((await stack.engineRun(["inspect", "--format", "{{.State.ExitCode}}", payment])).trim()).toBe("0");
      log("payment stopped");
      await sleep(5000);
      await stack.engineRun(["start", payment]);
      await stack.waitReady(["payment"], 120_000);
      log("payment started and ready");
    });
    const final = await Promise.all(orders.map((order) => finalOrder(user, order.orderId)));
    expect(final.every((order) => FINAL.has(order.status))).toBe(true);
    const ids = final.map((order) => order.orderId);
    const charges = await rows(
      "payment",
      `select order_id, count(*) filter (where state = 'CAPTURED'), count(*) filter (where state in ('AUTHORIZED', 'CAPTURED', 'REFUNDED'))
         from payments where order_id in (${quoted(ids)}) group by order_id`,
    );
    const byOrder = new Map(
      charges.map(([orderId, captured, charged]) => [orderId, { captured: Number(captured), charged: Number(charged) }]),
    );
    for (const order of final) {
      const charge = byOrder.get(order.orderId) ?? { captured: 0, charged: 0 };
      // CONFIRMED means captured exactly once; REJECTED means nothing held or charged.
      expect(charge, `${order.orderId} ${order.status}`).toEqual(
        order.status === "ORDER_STATUS_CONFIRMED" ? { captured: 1, charged: 1 } : { captured: 0, charged: 0 },
      );
    }
    log(
      `payment outage: ${final.filter((o) => o.status === "ORDER_STATUS_CONFIRMED").length} confirmed, ${final.filter((o) => o.status === "ORDER_STATUS_REJECTED").length} rejected`,
    );
  });

  it("restarts RabbitMQ during a stream of orders: every confirmed order's notification delivered exactly once, the outbox drained", async () => {
    const user = `carol-${randomUUID().slice(0, 8)}`;
    const rabbitmq = await stack.container("rabbitmq");
    const orders = await streamOfOrders(user, 12, 500, 3, async () => {
      await stack.engineRun(["restart", "-t", "10", rabbitmq]);
      log("rabbitmq restarted");
    });
    const final = await Promise.all(orders.map((order) => finalOrder(user, order.orderId)));
    const confirmed = final.filter((order) => order.status === "ORDER_STATUS_CONFIRMED").map((order) => order.orderId);
    expect(final.every((order) => FINAL.has(order.status))).toBe(true);
    expect(confirmed.length).toBeGreaterThan(0);
    const deadline = Date.now() + 180_000;
    let pending = -1;
    let delivered = new Map<string, number>();
    while (Date.now() < deadline) {
      pending = Number((await rows("order", "select count(*) from outbox where published_at is null"))[0]?.[0]);
      const counted = await rows(
        "notification",
        `select order_id, count(*) from deliveries where template = 'order_confirmed' and order_id in (${quoted(confirmed)}) group by order_id`,
      );
      delivered = new Map(counted.map(([orderId, count]) => [orderId!, Number(count)]));
      if (pending === 0 && confirmed.every((id) => delivered.has(id))) break;
      await sleep(2000);
    }
    expect(pending, "outbox rows not yet published").toBe(0);
    expect(Object.fromEntries(confirmed.map((id) => [id, delivered.get(id) ?? 0]))).toEqual(
      Object.fromEntries(confirmed.map((id) => [id, 1])),
    );
    // Nothing was delivered twice for any order or template, the stack over.
    expect(await rows("notification", "select order_id, template from deliveries group by 1, 2 having count(*) > 1")).toEqual([]);
  });
});
