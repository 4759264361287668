import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../src/config.js";
import { compilePathTemplate } from "../src/rest/path-template.js";
import { createRestRouteTable } from "../src/rest/route-table.js";
import { publicMethods } from "../src/surface/public-surface.js";

describe("path templates", () => {
  it("binds variables, decodes them, and keeps a :verb suffix literal", () => {
    const template = compilePathTemplate("/v1/orders/{order_id}:cancel");
    expect(template.variables).toEqual(["order_id"]);
    expect(template.match("/v1/orders/ord%201:cancel")).toEqual({ order_id: "ord 1" });
    expect(template.match("/v1/orders/ord-1")).toBeUndefined();
    expect(template.match("/v1/orders/a/b:cancel")).toBeUndefined();
  });

  it("supports {name=segments/*} and ** variables", () => {
    expect(compilePathTemplate("/v1/{name=shelves/*}").match("/v1/shelves/7")).toEqual({ name: "shelves/7" });
    expect(compilePathTemplate("/v1/files/{path=**}").match("/v1/files/a/b/c")).toEqual({ path: "a/b/c" });
  });
});

describe("the REST route table from the annotations", () => {
  const table = createRestRouteTable(publicMethods(loadGatewayConfig({}).frontedServices));

  it("routes each annotated verb and path to its method, :watch before the plain order path", () => {
    const route = (verb: string, path: string) => {
      const found = table.match(verb, path);
      return found.route ? `${found.route.method.method.name} ${JSON.stringify(found.variables)}` : undefined;
    };
    expect(route("GET", "/v1/products/SKU-1")).toBe('GetProduct {"sku":"SKU-1"}');
    expect(route("GET", "/v1/products")).toBe("ListProducts {}");
    expect(route("POST", "/v1/orders")).toBe("CreateOrder {}");
    expect(route("GET", "/v1/orders/o1")).toBe('GetOrder {"order_id":"o1"}');
    expect(route("GET", "/v1/orders/o1:watch")).toBe('WatchOrder {"order_id":"o1"}');
    expect(route("POST", "/v1/orders/o1:cancel")).toBe('CancelOrder {"order_id":"o1"}');
    expect(route("GET", "/v1/notifications")).toBe("ListNotifications {}");
  });

  it("has no route for internal methods or wrong verbs", () => {
    expect(table.match("POST", "/v1/reservations").route).toBeUndefined();
    expect(table.match("DELETE", "/v1/products/x")).toEqual({ route: undefined, methodAllowed: true });
  });
});
