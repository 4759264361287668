import type { PublicMethod, RestBinding } from "../surface/public-surface.js";
import { compilePathTemplate, type PathTemplate } from "./path-template.js";

/** One REST route: a verb and path template bound to a public method. */
export interface RestRoute {
  method: PublicMethod;
  binding: RestBinding;
  template: PathTemplate;
}

/** A matched route with the path variables it bound. */
export interface RestMatch {
  route: RestRoute;
  variables: Record<string, string>;
}

/** The REST routes of the public surface, matched by verb and path. */
export interface RestRouteTable {
  routes: readonly RestRoute[];
  /** The route for this verb and path, or undefined; `methodAllowed` tells 405 from 404. */
  match(verb: string, path: string): RestMatch | { route: undefined; methodAllowed: boolean };
}

/** Builds the REST route table from the annotated methods (more literal templates win ties). */
export function createRestRouteTable(methods: readonly PublicMethod[]): RestRouteTable {
  const routes: RestRoute[] = methods.flatMap((method) =>
    method.bindings.map((binding) => ({ method, binding, template: compilePathTemplate(binding.pattern) })),
  );
  // `/v1/orders/{order_id}:watch` must be tried before `/v1/orders/{order_id}`: fewer variables, longer literal first.
  routes.sort((a, b) => a.template.variables.length - b.template.variables.length || b.binding.pattern.length - a.binding.pattern.length);
  return {
    routes,
    match(verb, path) {
      let methodAllowed = false;
      for (const route of routes) {
        const variables = route.template.match(path);
        if (!variables) continue;
        if (route.binding.verb === verb || (verb === "HEAD" && route.binding.verb === "GET")) return { route, variables };
        methodAllowed = true;
      }
      return { route: undefined, methodAllowed };
    },
  };
}
