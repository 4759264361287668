// The storefront: products, cart, checkout with a test card, the order's status live from
// WatchOrder, and the signed-in user's orders and notifications — all through the gateway.
import type { Product } from "@shop/contracts/shop/inventory/v1/product_pb";
import type { Order } from "@shop/contracts/shop/order/v1/order_pb";
import { api } from "./api.js";
import { Cart } from "./cart.js";
import { describeError } from "./describe-error.js";
import { byId, el } from "./dom.js";
import { formatMoney } from "./money.js";
import { isFinal, statusLabel, statusSentence } from "./order-status.js";
import { currentSession, signIn, signOut } from "./session.js";

const cart = new Cart();
let products: Product[] = [];
let watching: AbortController | undefined;

function showError(message: string | undefined): void {
  const box = byId("error");
  box.textContent = message ?? "";
  box.hidden = message === undefined;
}

function renderSession(): void {
  const session = currentSession();
  byId("sign-in").hidden = session !== undefined;
  byId("signed-in").hidden = session === undefined;
  byId("current-user").textContent = session?.user ?? "";
  renderCart();
}

async function loadProducts(): Promise<void> {
  const status = byId("products-status");
  try {
    products = (await api.inventory.listProducts({ pageSize: 100 })).products;
    status.textContent = products.length === 0 ? "No products yet." : `${products.length} products`;
    renderProducts();
  } catch (error) {
    status.textContent = "Products could not be loaded.";
    showError(describeError(error));
  }
}

function renderProducts(): void {
  const list = byId("product-list");
  list.replaceChildren(
    ...products.map((product) => {
      const inStock = product.availableQuantity > 0;
      const add = el("button", { type: "button", disabled: !inStock, "aria-label": `Add ${product.name} to cart` }, "Add to cart");
      add.addEventListener("click", () => {
        if (!cart.add(product)) showError(`Only ${product.availableQuantity} of ${product.name} in stock.`);
        else showError(undefined);
      });
      return el(
        "li",
        { class: "product", "data-sku": product.sku },
        el("h3", {}, product.name),
        product.description ? el("p", { class: "muted" }, product.description) : undefined,
        el("p", {}, formatMoney(product.price)),
        el("p", { class: inStock ? "stock" : "stock-out" }, inStock ? `${product.availableQuantity} in stock` : "Out of stock"),
        add,
      );
    }),
  );
}

function renderCart(): void {
  const items = cart.items();
  const count = items.reduce((sum, line) => sum + line.quantity, 0);
  byId("cart-heading").textContent = count > 0 ? `Cart (${count} ${count === 1 ? "item" : "items"})` : "Cart";
  byId("cart-empty").hidden = items.length > 0;
  byId("cart-lines").replaceChildren(
    ...items.map((line) => {
      const remove = el("button", { type: "button", class: "secondary", "aria-label": `Remove ${line.product.name} from cart` }, "Remove");
      remove.addEventListener("click", () => cart.remove(line.product.sku));
      return el("li", {}, el("span", {}, `${line.quantity} × ${line.product.name}`), remove);
    }),
  );
  byId("cart-total").textContent = formatMoney(cart.total());
  const button = byId<HTMLButtonElement>("checkout-button");
  button.disabled = items.length === 0 || currentSession() === undefined;
  button.title = currentSession() === undefined ? "Sign in to place an order" : "";
}

function showOrderStatus(order: Order): void {
  const box = byId("order-status");
  box.className = `order-status status-${statusLabel(order.status).toLowerCase()}`;
  box.textContent = `Order ${order.orderId}: ${statusSentence(order)}`;
}

async function checkout(form: HTMLFormElement): Promise<void> {
  const data = new FormData(form);
  const button = byId<HTMLButtonElement>("checkout-button");
  button.disabled = true;
  showError(undefined);
  try {
    const { order } = await api.orders.createOrder({
      requestId: crypto.randomUUID(),
      items: cart.items().map((line) => ({ sku: line.product.sku, quantity: line.quantity })),
      cardToken: String(data.get("card")),
      email: String(data.get("email")),
    });
    if (!order) throw new Error("the shop returned no order");
    cart.clear();
    showOrderStatus(order);
    void watchOrder(order.orderId);
  } catch (error) {
    showError(describeError(error));
  } finally {
    renderCart();
  }
}

/** Follows an order live over WatchOrder (Connect server streaming) until it is final. */
async function watchOrder(orderId: string): Promise<void> {
  watching?.abort();
  const controller = new AbortController();
  watching = controller;
  try {
    for await (const update of api.orders.watchOrder({ orderId }, { signal: controller.signal })) {
      if (!update.order) continue;
      showOrderStatus(update.order);
      if (isFinal(update.order.status)) {
        controller.abort();
        break;
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) showError(describeError(error));
  }
  await Promise.all([loadOrders(), loadProducts()]);
  await pollNotifications(orderId);
}

async function loadOrders(): Promise<void> {
  const status = byId("orders-status");
  const list = byId("order-list");
  if (!currentSession()) {
    status.textContent = "Sign in to see your orders.";
    list.replaceChildren();
    return;
  }
  try {
    const { orders } = await api.orders.listOrders({ pageSize: 20 });
    status.textContent = orders.length === 0 ? "No orders yet." : "";
    list.replaceChildren(
      ...orders.map((order) =>
        el(
          "li",
          { "data-order-id": order.orderId },
          el("span", {}, order.orderId),
          el("span", {}, formatMoney(order.total)),
          el("strong", { class: `status-${statusLabel(order.status).toLowerCase()}` }, statusSentence(order)),
        ),
      ),
    );
  } catch (error) {
    status.textContent = "Your orders could not be loaded.";
    showError(describeError(error));
  }
}

async function loadNotifications(): Promise<number> {
  const status = byId("notifications-status");
  const list = byId("notification-list");
  if (!currentSession()) {
    status.textContent = "Sign in to see your notifications.";
    list.replaceChildren();
    return 0;
  }
  try {
    const { notifications } = await api.notifications.listNotifications({ pageSize: 20 });
    status.textContent = notifications.length === 0 ? "No notifications yet." : "";
    list.replaceChildren(...notifications.map((n) => el("li", { "data-order-id": n.orderId }, el("span", {}, n.body || n.template))));
    return notifications.filter((n) => n.orderId !== "").length;
  } catch (error) {
    status.textContent = "Your notifications could not be loaded.";
    showError(describeError(error));
    return 0;
  }
}

/** Notifications arrive asynchronously (outbox -> RabbitMQ -> notification): poll briefly for the new one. */
async function pollNotifications(orderId: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    await loadNotifications();
    if (document.querySelector(`#notification-list li[data-order-id="${CSS.escape(orderId)}"]`)) return;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

byId<HTMLFormElement>("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const user = byId<HTMLInputElement>("user-name").value.trim();
  signIn(user)
    .then(() => {
      showError(undefined);
      renderSession();
      byId("products-heading").focus();
      return Promise.all([loadOrders(), loadNotifications()]);
    })
    .catch((error: unknown) => showError(error instanceof Error ? error.message : String(error)));
});
byId("sign-out").addEventListener("click", () => {
  signOut();
  watching?.abort();
  renderSession();
  void loadOrders();
  void loadNotifications();
  byId<HTMLInputElement>("user-name").focus();
});
byId<HTMLFormElement>("checkout").addEventListener("submit", (event) => {
  event.preventDefault();
  void checkout(event.currentTarget as HTMLFormElement);
});
cart.onChange(renderCart);

renderSession();
void loadProducts();
void loadOrders();
void loadNotifications();
