/** A compiled `google.api.http` path template: `/v1/orders/{order_id}:cancel`. */
export interface PathTemplate {
  pattern: string;
  /** Field paths bound by the template's variables, in order (`order_id`, `shelf.name`). */
  variables: string[];
  /** Returns the variables' values for a matching (raw, still percent-encoded) path, or undefined. */
  match(path: string): Record<string, string> | undefined;
}

const VARIABLE = /\{([a-zA-Z_][\w.]*)(?:=([^}]*))?\}/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Turns a segment pattern (`*`, `**`, `shelves/*`) into a regular expression fragment. */
function segmentsRegExp(segments: string): string {
  return segments
    .split("/")
    .map((segment) => (segment === "**" ? ".+" : segment === "*" ? "[^/]+" : escapeRegExp(segment)))
    .join("/");
}

/** Compiles a path template per google/api/http.proto (variables, `*`, `**`, a `:verb` suffix). */
export function compilePathTemplate(pattern: string): PathTemplate {
  if (!pattern.startsWith("/")) throw new Error(`path template must start with "/": ${pattern}`);
  const variables: string[] = [];
  let source = "";
  let last = 0;
  for (const found of pattern.matchAll(VARIABLE)) {
    source += literal(pattern.slice(last, found.index));
    variables.push(found[1] as string);
    source += `(${segmentsRegExp(found[2] ?? "*")})`;
    last = found.index + found[0].length;
  }
  source += literal(pattern.slice(last));
  const regexp = new RegExp(`^${source}$`);
  return {
    pattern,
    variables,
    match(path) {
      const found = regexp.exec(path);
      if (!found) return undefined;
      const values: Record<string, string> = {};
      for (const [i, name] of variables.entries()) {
        const raw = found[i + 1] as string;
        try {
          values[name] = decodeURIComponent(raw);
        } catch {
          return undefined;
        }
      }
      return values;
    },
  };
}

/** Literal text between variables; `*` and `**` may also stand bare in a template. */
function literal(text: string): string {
  return text
    .split(/(\*\*|\*)/)
    .map((part) => (part === "**" ? ".+" : part === "*" ? "[^/]+" : escapeRegExp(part)))
    .join("");
}
