// The workload: customers placing orders through the gateway (Connect), as real clients do — good, declined and
// unavailable cards; a retry with the same request id after any failure that may not have reached the service,
// and now and then after a success too; cancellations of confirmed orders, retried while CANCELLATION_PENDING;
// WatchOrder streams following some orders. Everything a client saw is recorded for the checker.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { OrderStatus } from "@shop/contracts/shop/order/v1/order_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { errorInfo } from "@shop/platform";
import { SignJWT } from "jose";

const DEV_SECRET = "shop-mesh-dev-secret-change-me-0123456789";
const FINAL = new Set([OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED]);
// Answers after which the request may or may not have been carried out: a client tries again with the same id.
const RETRYABLE = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Unknown,
  Code.Internal,
  Code.Aborted,
  Code.ResourceExhausted,
  Code.Canceled,
]);
const CARDS = [
  ["tok_visa", 0.7],
  ["tok_declined", 0.15],
  ["tok_unavailable", 0.15],
];

/** The card for a roll in [0, 1), by the weights of CARDS. */
function pickCard(roll) {
  let upTo = 0;
  for (const [card, weight] of CARDS) {
    upTo += weight;
    if (roll < upTo) return card;
  }
  return CARDS[0][0];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const codeOf = (error) => ConnectError.from(error).code;

/** A development token for `user`, as `npm run token` makes (GATEWAY_JWT_SECRET when set). */
export async function tokenFor(user, secret = process.env.GATEWAY_JWT_SECRET || DEV_SECRET) {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(user)
    .setIssuer("shop-mesh-dev")
    .setAudience("shop-gateway")
    .setIssuedAt()
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(secret));
}

/**
 * Runs `clients` customers against the gateway until `until` (ms epoch), then lets each finish what it has in
 * flight until `hardStop`. Resolves to every order attempt: request id, user, card, lines, what the client was
 * answered, cancellation and watch outcomes.
 */
export async function runWorkload({ gatewayUrl, clients, random, skus, until, hardStop, onEvent = () => {} }) {
  const transport = createConnectTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" });
  const api = createClient(OrderService, transport);
  const records = [];
  const watches = [];

  async function call(label, record, fn) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await fn();
      } catch (error) {
        const code = codeOf(error);
        record.errors.push(`${label}:${Code[code]}`);
        if (!RETRYABLE.has(code) || Date.now() > hardStop) throw error;
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + random() / 2));
      }
    }
  }

  async function customer(index) {
    const user = `chaos-${index}`;
    const headers = { authorization: `Bearer ${await tokenFor(user)}` };
    while (Date.now() < until) {
      const card = pickCard(random());
      const record = {
        requestId: randomUUID(),
        user,
        card,
        lines: [{ sku: random.pick(skus), quantity: random.int(1, 3) }],
        orderId: undefined,
        answered: undefined, // the status the first successful CreateOrder answered
        final: undefined, // the final status the client saw
        errors: [],
        refused: undefined,
        cancel: undefined, // "acked" (CANCELLED or CANCELLATION_PENDING answered) | "unknown"
        watch: random() < 0.2,
        retryAfterSuccess: random() < 0.1,
      };
      records.push(record);
      const request = { requestId: record.requestId, items: record.lines, cardToken: card, email: `${user}@example.com` };
      try {
        const { order } = await call("create", record, () => api.createOrder(request, { headers, timeoutMs: 8_000 }));
        record.orderId = order?.orderId;
        record.answered = order?.status;
        onEvent("order", record);
        if (record.watch) watches.push(watch(record, headers));
        if (record.retryAfterSuccess) {
          const { order: again } = await call("create-again", record, () => api.createOrder(request, { headers, timeoutMs: 8_000 }));
          if (again?.orderId !== record.orderId) record.errors.push(`create-again:DIFFERENT_ORDER:${again?.orderId}`);
        }
        let status = order?.status;
        while (!FINAL.has(status) && Date.now() < hardStop) {
          await sleep(300);
          status = (await call("get", record, () => api.getOrder({ orderId: record.orderId }, { headers, timeoutMs: 5_000 }))).order
            ?.status;
        }
        record.final = FINAL.has(status) ? status : undefined;
        if (status === OrderStatus.CONFIRMED && random() < 0.25) await cancel(record, headers);
      } catch (error) {
        if (!RETRYABLE.has(codeOf(error))) record.refused = Code[codeOf(error)];
      }
      await sleep(random.int(20, 150));
    }
  }

  async function cancel(record, headers) {
    record.cancel = "unknown";
    for (;;) {
      try {
        const { order } = await api.cancelOrder({ orderId: record.orderId, reason: "chaos" }, { headers, timeoutMs: 8_000 });
        record.cancel = "acked";
        record.final = order?.status;
        return;
      } catch (error) {
        const code = codeOf(error);
        record.errors.push(`cancel:${Code[code]}`);
        // CANCELLATION_PENDING (UNAVAILABLE with the reason) means recorded: it will complete.
        if (errorInfo(error)?.reason === "CANCELLATION_PENDING") record.cancel = "acked";
        if (!RETRYABLE.has(code) || Date.now() > hardStop) return;
        await sleep(300);
      }
    }
  }

  async function watch(record, headers) {
    const seen = [];
    record.watched = seen;
    try {
      for await (const { order } of api.watchOrder(
        { orderId: record.orderId },
        { headers, timeoutMs: Math.max(1_000, hardStop - Date.now()) },
      )) {
        if (order && seen.at(-1) !== order.status) seen.push(order.status);
        if (order && FINAL.has(order.status)) break;
      }
      record.watchEnded = "stream";
    } catch (error) {
      record.watchEnded = Code[codeOf(error)];
    }
  }

  await Promise.all(Array.from({ length: clients }, (_, i) => customer(i)));
  await Promise.all(watches);
  return records;
}
