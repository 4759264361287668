// The mesh console (/console on the gateway's admin port) in real headless Chromium against the real
// mesh: health SERVING for every process, RPC figures per method, the outbox and the queues; a dead
// letter the test puts in the notification DLQ is listed, shown decoded, replayed and then delivered;
// another is purged. The API refuses a missing or wrong operator token. Screenshots: test-results/console/.
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { NotificationChannel } from "@shop/contracts/shop/notification/v1/notification_pb";
import { SendNotificationCommandSchema } from "@shop/contracts/shop/notification/v1/send_notification_command_pb";
import { ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER } from "@shop/platform/messaging";
import { TEST_AMQP_URL } from "@shop/platform/testing/rabbitmq";
import { connect } from "amqplib";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Mesh, repoRoot, startMesh } from "./mesh.js";

const shots = join(repoRoot, "test-results", "console");
const operatorToken = randomBytes(24).toString("base64url");
const user = `console-${randomBytes(3).toString("hex")}`;
let mesh: Mesh;
let browser: Browser;
let page: Page;

const commandQueue = () => `${mesh.amqpPrefix}shop.notifications.commands`;
const consoleUrl = () => `${mesh.adminUrls.gateway}/console/`;

/** Puts a SendNotificationCommand into the notification DLQ as the consumer would after its last attempt. */
async function deadLetter(orderId: string): Promise<string> {
  const commandId = `cmd-${randomBytes(6).toString("hex")}`;
  const command = create(SendNotificationCommandSchema, {
    commandId,
    channel: NotificationChannel.EMAIL,
    recipient: `${user}@example.com`,
    template: "order_confirmed",
    parameters: { order_id: orderId, total: "EUR 12.00" },
    orderId,
    userId: user,
    createTime: timestampNow(),
  });
  const connection = await connect(TEST_AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(`${commandQueue()}.dlq`, Buffer.from(toBinary(SendNotificationCommandSchema, command)), {
      type: SendNotificationCommandSchema.typeName,
      messageId: commandId,
      persistent: true,
      headers: {
        [ATTEMPTS_HEADER]: 4,
        [ERROR_HEADER]: "provider down (put here by the test)",
        [FAILED_AT_HEADER]: new Date().toISOString(),
      },
    });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
  return commandId;
}

async function userToken(): Promise<string> {
  const response = await fetch(`${mesh.gatewayUrl}/dev/token`, { method: "POST", body: JSON.stringify({ user }) });
  return ((await response.json()) as { token: string }).token;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Runs a browser step; on failure keeps a screenshot and the mesh's logs in the message. */
async function step(name: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    await page.screenshot({ path: join(shots, `failed-${name}.png`), fullPage: true }).catch(() => undefined);
    throw new Error(`${name}: ${(error as Error).message}\n${mesh.logs()}`);
  }
}

beforeAll(async () => {
  await build({ configFile: join(repoRoot, "web", "vite.console.config.ts"), logLevel: "warn" });
  await mkdir(shots, { recursive: true });
  mesh = await startMesh({ GATEWAY_OPERATOR_TOKEN: operatorToken });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // Replay all and purge ask for confirmation.
  page.on("dialog", (dialog) => void dialog.accept());
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
}, 60_000);

describe("the console's API behind the operator token", () => {
  it("answers 401 without a token and with a wrong one, and 200 with the right one", async () => {
    const url = `${mesh.adminUrls.gateway}/console/api/overview`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const wrong = await fetch(url, { headers: { authorization: `Bearer ${operatorToken}x` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(url, { headers: { authorization: `Bearer ${operatorToken}` } });
    expect(right.status).toBe(200);
    expect(((await right.json()) as { services: unknown[] }).services).toHaveLength(5);
  });

  it("refuses a purge with a wrong token and purges nothing", async () => {
    const purge = await fetch(`${mesh.adminUrls.gateway}/console/api/queues/${encodeURIComponent(commandQueue())}/purge`, {
      method: "POST",
      headers: { authorization: "Bearer not-the-operator-token" },
    });
    expect(purge.status).toBe(401);
  });
});

describe("the mesh console in Chromium", () => {
  it("asks for the token, then shows every process SERVING, RPCs per method, the outbox and the queues", async () => {
    // One order through the gateway, so the services have calls to show.
    const auth = { authorization: `Bearer ${await userToken()}`, "content-type": "application/json" };
    const { products } = (await (await fetch(`${mesh.gatewayUrl}/v1/products`)).json()) as { products: { sku: string }[] };
    const created = await fetch(`${mesh.gatewayUrl}/v1/orders`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        requestId: `console-${Date.now()}`,
        items: [{ sku: products[0]?.sku, quantity: 1 }],
        cardToken: "tok_visa",
        email: "c@example.com",
      }),
    });
    expect(created.status, await created.clone().text()).toBe(200);

    await step("token", async () => {
      await page.goto(consoleUrl());
      await page.getByLabel("Operator token").waitFor();
      await shot("01-token");
      await page.getByLabel("Operator token").fill(operatorToken);
      await page.getByRole("button", { name: "Open the console" }).click();
    });
    await step("overview", async () => {
      await page.locator("#overview").waitFor();
      expect(await page.getByLabel("Operator token").isHidden()).toBe(true);
      for (const name of ["order", "inventory", "payment", "notification", "gateway"]) {
        await page.locator(`#service-list li[data-service="${name}"] .health`, { hasText: "SERVING" }).waitFor({ timeout: 15_000 });
      }
      const createOrder = page.locator('#rpc-rows tr[data-method="shop.order.v1.OrderService/CreateOrder"]');
      await createOrder.first().waitFor({ timeout: 15_000 });
      // Rates need two scrapes: the page polls every 2 s.
      await page.locator("#rpc-window", { hasText: "over the last" }).waitFor({ timeout: 15_000 });
      expect(await page.locator('#rpc-rows tr[data-method="shop.inventory.v1.InventoryService/ReserveStock"]').count()).toBe(1);
      const cells = await createOrder.first().locator("td").allTextContents();
      expect(cells[0]).toBe("order");
      expect(cells[4]).toMatch(/^\d+(\.\d)? ms$/); // p99
      expect(Number(cells[5])).toBeGreaterThanOrEqual(1); // calls
      await page.locator("#outbox-rows tr", { hasText: "order" }).waitFor();
      await page.locator(`#queue-rows tr[data-queue="${commandQueue()}.dlq"]`).waitFor();
      await page.locator(`#queue-rows tr[data-queue="${commandQueue()}"]`).waitFor();
      await shot("02-overview");
    });
  }, 90_000);

  it("lists a dead letter, shows it decoded, replays it, and it is delivered", async () => {
    const orderId = `console-order-${randomBytes(4).toString("hex")}`;
    const commandId = await deadLetter(orderId);
    const row = page.locator(`#letter-rows tr[data-message-id="${commandId}"]`);
    await step("dead-letters", async () => {
      await page.getByRole("link", { name: "Dead letters" }).click();
      await page.locator("#queue").selectOption(commandQueue());
      await row.waitFor({ timeout: 10_000 });
      expect(await row.textContent()).toContain("provider down (put here by the test)");
      expect(await row.textContent()).toContain(SendNotificationCommandSchema.typeName);
      await shot("03-dead-letters");
    });
    await step("show", async () => {
      await row.getByRole("button", { name: "Show" }).click();
      await page.locator("#letter-body", { hasText: commandId }).waitFor();
      const decoded = JSON.parse((await page.locator("#letter-body").textContent()) ?? "") as Record<string, unknown>;
      expect(decoded).toMatchObject({
        commandId,
        channel: "NOTIFICATION_CHANNEL_EMAIL",
        recipient: `${user}@example.com`,
        orderId,
        userId: user,
      });
      await shot("04-dead-letter-decoded");
    });
    await step("replay", async () => {
      await page.getByRole("button", { name: "Replay this message" }).click();
      await page.locator("#notice", { hasText: "Replayed 1 message(s)" }).waitFor();
      await row.waitFor({ state: "detached" });
      await shot("05-replayed");
    });
    // Delivered: the notification service consumed the replayed command and the user sees it.
    const auth = { authorization: `Bearer ${await userToken()}` };
    let orderIds: string[] = [];
    for (let i = 0; i < 100 && !orderIds.includes(orderId); i++) {
      const answer = (await (await fetch(`${mesh.gatewayUrl}/v1/notifications`, { headers: auth })).json()) as {
        notifications?: { orderId: string }[];
      };
      orderIds = (answer.notifications ?? []).map((n) => n.orderId);
      if (!orderIds.includes(orderId)) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(orderIds, mesh.logs()).toContain(orderId);
  }, 90_000);

  it("purges the dead-letter queue", async () => {
    const commandId = await deadLetter(`console-order-${randomBytes(4).toString("hex")}`);
    await step("purge", async () => {
      await page.getByRole("button", { name: "Refresh" }).click();
      await page.locator(`#letter-rows tr[data-message-id="${commandId}"]`).waitFor({ timeout: 10_000 });
      await page.getByRole("button", { name: "Purge" }).click();
      await page.locator("#notice", { hasText: /Purged [1-9]\d* message\(s\)/ }).waitFor();
      await page.locator("#letters-heading", { hasText: ": 0 message(s)" }).waitFor();
      await shot("06-purged");
    });
  }, 60_000);
});
