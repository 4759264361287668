import { type DescMethod, type DescService, getOption, hasOption } from "@bufbuild/protobuf";
import { http } from "@shop/contracts/google/api/annotations_pb";
import type { HttpRule } from "@shop/contracts/google/api/http_pb";

/** The REST binding of one public method, as its `google.api.http` annotation states it. */
export interface RestBinding {
  verb: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path template, e.g. `/v1/orders/{order_id}:cancel`. */
  pattern: string;
  /** `""` (no body), `"*"` (the whole request) or a top-level field name. */
  body: string;
}

/** A method the gateway exposes, with every REST binding of it (main rule + additional_bindings). */
export interface PublicMethod {
  service: DescService;
  method: DescMethod;
  /** `/shop.order.v1.OrderService/GetOrder`, the Connect/gRPC path. */
  path: string;
  bindings: RestBinding[];
}

function bindingOf(rule: HttpRule): RestBinding | undefined {
  const { case: kind, value } = rule.pattern;
  const verb = ({ get: "GET", post: "POST", put: "PUT", patch: "PATCH", delete: "DELETE" } as const)[kind as string];
  if (verb === undefined || typeof value !== "string") return undefined;
  return { verb, pattern: value, body: rule.body };
}

/** Whether any method of the service carries a `google.api.http` annotation (else fronting it exposes nothing). */
export function hasPublicMethod(service: DescService): boolean {
  return service.methods.some((method) => hasOption(method, http));
}

/** The methods of the fronted services that carry a `google.api.http` annotation — the gateway's whole public surface. */
export function publicMethods(services: readonly DescService[]): PublicMethod[] {
  const result: PublicMethod[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      const bindings = [rule, ...rule.additionalBindings].map(bindingOf).filter((b): b is RestBinding => b !== undefined);
      result.push({ service, method, path: `/${service.typeName}/${method.name}`, bindings });
    }
  }
  return result;
}
