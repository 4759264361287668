// The storefront in real headless Chromium (playwright-core, Debian's /usr/bin/chromium) against the
// real mesh: browse, add to cart, pay with tok_visa and watch the order reach CONFIRMED live, see
// its notification; a tok_declined card shows the rejection. Screenshots go to test-results/browser/.
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Mesh, repoRoot, startMesh } from "./mesh.js";

const shots = join(repoRoot, "test-results", "browser");
let mesh: Mesh;
let browser: Browser;

beforeAll(async () => {
  await build({ root: join(repoRoot, "web"), logLevel: "warn" });
  await mkdir(shots, { recursive: true });
  mesh = await startMesh();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
}, 60_000);

async function signedInShopper(name: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(mesh.gatewayUrl);
  await page.locator(".product").first().waitFor({ timeout: 15_000 });
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  try {
    await page.locator("#current-user", { hasText: name }).waitFor({ timeout: 10_000 });
  } catch (_error) {
    await page.screenshot({ path: join(shots, `failed-sign-in-${name}.png`), fullPage: true });
    throw new Error(`sign-in failed; page says: ${await page.locator("#error").textContent()}\n${mesh.logs()}`);
  }
  return page;
}

async function checkOut(page: Page, card: RegExp): Promise<void> {
  await page.locator(".product button:not([disabled])").first().click();
  await page.locator("#cart-lines li").first().waitFor();
  await page.getByLabel("E-mail for the receipt").fill("shopper@example.com");
  await page.getByLabel(card).check();
  await page.getByRole("button", { name: "Place order" }).click();
}

describe("storefront in Chromium against the real mesh", () => {
  it("browses, checks out with tok_visa, shows CONFIRMED live and then the notification", async () => {
    const user = `visa-${Math.random().toString(36).slice(2, 8)}`;
    const page = await signedInShopper(user);
    try {
      await page.screenshot({ path: join(shots, "01-products.png"), fullPage: true });
      const createOrder = page.waitForRequest((request) => request.url().endsWith("/shop.order.v1.OrderService/CreateOrder"));
      await checkOut(page, /tok_visa/);
      // The storefront starts the order's trace: the gateway continues its traceparent.
      expect((await createOrder).headers().traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      await page.screenshot({ path: join(shots, "02-order-placed.png"), fullPage: true });
      await page.locator("#order-status", { hasText: "Confirmed" }).waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(shots, "03-confirmed.png"), fullPage: true });
      const orderId = (await page.locator("#order-status").textContent())?.match(/Order (\S+):/)?.[1] ?? "";
      expect(orderId).not.toBe("");
      await page.locator(`#order-list li[data-order-id="${orderId}"]`, { hasText: "Confirmed" }).waitFor({ timeout: 10_000 });
      await page.locator(`#notification-list li[data-order-id="${orderId}"]`).waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(shots, "04-notification.png"), fullPage: true });
    } catch (error) {
      await page.screenshot({ path: join(shots, "failed-visa.png"), fullPage: true }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${mesh.logs()}`);
    } finally {
      await page.close();
    }
  }, 90_000);

  it("shows the rejection in words when the card is declined (tok_declined)", async () => {
    const page = await signedInShopper(`declined-${Math.random().toString(36).slice(2, 8)}`);
    try {
      await checkOut(page, /tok_declined/);
      await page.locator("#order-status", { hasText: "Rejected" }).waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(shots, "05-declined.png"), fullPage: true });
      expect(await page.locator("#order-status").textContent()).toMatch(/Rejected: .+/);
    } catch (error) {
      await page.screenshot({ path: join(shots, "failed-declined.png"), fullPage: true }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${mesh.logs()}`);
    } finally {
      await page.close();
    }
  }, 90_000);
});

describe("the same mesh through the gateway, as curl and buf curl see it", () => {
  it("places an order over REST with a development token and reads it back CONFIRMED", async () => {
    const { token } = (await (
      await fetch(`${mesh.gatewayUrl}/dev/token`, { method: "POST", body: JSON.stringify({ user: "curl-user" }) })
    ).json()) as { token: string };
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const { products } = (await (await fetch(`${mesh.gatewayUrl}/v1/products`)).json()) as {
      products: { sku: string; availableQuantity: number }[];
    };
    const sku = products.find((p) => p.availableQuantity > 0)?.sku;
    const created = await fetch(`${mesh.gatewayUrl}/v1/orders`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        requestId: `rest-${Date.now()}`,
        items: [{ sku, quantity: 1 }],
        cardToken: "tok_visa",
        email: "curl@example.com",
      }),
    });
    expect(created.status, await created.clone().text()).toBe(200);
    const { order } = (await created.json()) as { order: { orderId: string } };
    let status = "";
    for (let i = 0; i < 50 && status !== "ORDER_STATUS_CONFIRMED"; i++) {
      const read = (await (await fetch(`${mesh.gatewayUrl}/v1/orders/${order.orderId}`, { headers: auth })).json()) as {
        order: { status: string };
      };
      status = read.order.status;
      if (status !== "ORDER_STATUS_CONFIRMED") await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe("ORDER_STATUS_CONFIRMED");
    const list = (await (await fetch(`${mesh.gatewayUrl}/v1/orders`, { headers: auth })).json()) as { orders: { orderId: string }[] };
    expect(list.orders.map((o) => o.orderId)).toContain(order.orderId);

    // Nothing of the customer's reaches a log line at info, in the gateway or any service.
    for (const [name, output] of Object.entries(mesh.outputs())) {
      const info = output.split("\n").filter((line) => line.startsWith("{") && line.endsWith("}") && JSON.parse(line).level <= 30);
      for (const secret of ["curl@example.com", "tok_visa", token]) {
        expect(
          info.filter((line) => line.includes(secret)),
          `${name} logged "${secret.slice(0, 24)}" at info`,
        ).toEqual([]);
      }
    }
  }, 30_000);

  it("lists only public methods to buf curl and refuses internal ones", async () => {
    const buf = (...args: string[]) =>
      promisify(execFile)(join(repoRoot, "node_modules/.bin/buf"), ["curl", "--http2-prior-knowledge", ...args], { cwd: repoRoot });
    const { stdout } = await buf("--list-methods", mesh.gatewayUrl);
    expect(stdout).toContain("shop.inventory.v1.InventoryService/GetProduct");
    expect(stdout).toContain("shop.order.v1.OrderService/WatchOrder");
    expect(stdout).not.toContain("ReserveStock");
    expect(stdout).not.toContain("PaymentService");
    const product = await buf("-d", '{"pageSize":1}', `${mesh.gatewayUrl}/shop.inventory.v1.InventoryService/ListProducts`);
    expect(JSON.parse(product.stdout).products).toHaveLength(1);
    const internal = await buf(
      "--protocol",
      "grpc",
      "--schema",
      join(repoRoot, "proto"),
      "-d",
      "{}",
      `${mesh.gatewayUrl}/shop.inventory.v1.InventoryService/ReserveStock`,
    ).catch((e: { stderr: string }) => e);
    expect((internal as { stderr: string }).stderr).toMatch(/not.found/i);
  }, 30_000);
});
