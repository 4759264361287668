import type { DescService } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { inventoryAccess } from "@shop/inventory/access";
import { notificationAccess } from "@shop/notification/access";
import { paymentAccess } from "@shop/payment/access";
import { type AccessPolicy, createClient, errorInfo } from "@shop/platform";
import { callingAs } from "@shop/platform/testing/certificates";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orderAccess } from "../src/access.js";
import { type DomainMesh, startDomainMesh } from "./mesh-harness.js";

/** Every workload that holds a mesh certificate. */
const WORKLOADS = ["order", "inventory", "payment", "notification", "gateway", "operator"];

let mesh: DomainMesh;
beforeAll(async () => {
  mesh = await startDomainMesh();
}, 90_000);
afterAll(() => mesh?.close());

const tables: Array<{
  name: keyof Pick<DomainMesh, "order" | "inventory" | "payment" | "notification">;
  service: DescService;
  access: AccessPolicy;
}> = [
  { name: "order", service: OrderService, access: orderAccess as AccessPolicy },
  { name: "inventory", service: InventoryService, access: inventoryAccess as AccessPolicy },
  { name: "payment", service: PaymentService, access: paymentAccess as AccessPolicy },
  { name: "notification", service: NotificationService, access: notificationAccess as AccessPolicy },
];

/** Calls `method` with an empty request as `workload`; the error, or undefined on success. */
async function attempt(name: string, service: DescService, localName: string, workload: string, headers: Record<string, string> = {}) {
  const client = createClient(service, mesh[name as "order"].target, {
    ...callingAs(workload, name),
    retry: false,
    breaker: false,
  }) as unknown as Record<string, (request: object, options: object) => Promise<unknown> | AsyncIterable<unknown>> & { close(): void };
  try {
    const result = client[localName]!({}, { timeoutMs: 5_000, headers });
    if (Symbol.asyncIterator in (result as object)) {
      for await (const _ of result as AsyncIterable<unknown>) break;
    } else await result;
    return undefined;
  } catch (error) {
    return error as ConnectError;
  } finally {
    client.close();
  }
}

describe.each(tables)("the $name service's authorization table, across real processes", ({ name, service, access }) => {
  for (const method of service.methods) {
    const allowed = (access.callers as Record<string, readonly string[]>)[method.localName] ?? [];
    it(`${method.name}: ${allowed.join(", ")} may call it; every other workload gets PERMISSION_DENIED`, async () => {
      for (const workload of WORKLOADS) {
        const error = await attempt(name, service, method.localName, workload);
        if (allowed.includes(workload)) {
          // Past the gate: whatever it answers to an empty request, it is not a refusal of the caller.
          expect(error?.code, `${workload} -> ${method.name}`).not.toBe(Code.PermissionDenied);
        } else {
          expect(error?.code, `${workload} -> ${method.name}`).toBe(Code.PermissionDenied);
          expect(errorInfo(error)?.reason).toBe("CALLER_NOT_ALLOWED");
        }
      }
    });
  }
});

describe("the end user's identity", () => {
  it("refuses x-user-id from a workload allowed to call but not to name users (the operator restocking)", async () => {
    const error = await attempt("inventory", InventoryService, "restockProduct", "operator", { "x-user-id": "bob" });
    expect(error?.code).toBe(Code.PermissionDenied);
    expect(errorInfo(error)?.reason).toBe("USER_ASSERTION_NOT_ALLOWED");
  });

  it("answers UNAUTHENTICATED to a gateway call that names no user, for orders and notifications", async () => {
    for (const [name, service, method] of [
      ["order", OrderService, "listOrders"],
      ["notification", NotificationService, "listNotifications"],
    ] as const) {
      const error = await attempt(name, service, method, "gateway");
      expect(error?.code, name).toBe(Code.Unauthenticated);
    }
  });

  it("lets no plaintext caller reach any service port", async () => {
    for (const { name, service } of tables) {
      const client = createClient(service, mesh[name].target, { retry: false, breaker: false });
      const error = await (client as unknown as { [k: string]: (r: object, o: object) => Promise<unknown> })[
        service.methods[0]!.localName
      ]!({}, { timeoutMs: 2_000 }).catch((e: unknown) => e);
      client.close();
      expect((error as ConnectError).code, name).toBe(Code.Unavailable);
    }
  });
});
