import { type DescField, type DescMessage, fromJson, type JsonObject, type JsonValue, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RestMatch } from "./route-table.js";

/** Finds a field by its proto name or its JSON (lowerCamel) name. */
function fieldNamed(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((field) => field.name === name || field.jsonName === name);
}

/** Sets `value` at a dotted field path (`shelf.name`) inside a proto3 JSON object, checking each step exists. */
function assign(target: JsonObject, message: DescMessage, path: string, value: JsonValue, source: string): void {
  const [head, ...rest] = path.split(".");
  const field = fieldNamed(message, head as string);
  if (!field) throw new ConnectError(`unknown ${source} "${path}" for ${message.typeName}`, Code.InvalidArgument);
  const key = field.jsonName;
  if (rest.length > 0) {
    if (field.fieldKind !== "message") throw new ConnectError(`${source} "${path}" does not name a message field`, Code.InvalidArgument);
    target[key] ??= {};
    const child = target[key] as JsonObject;
    assign(child, field.message, rest.join("."), value, source);
    return;
  }
  target[key] = value;
}

/** A query or path string as the proto3 JSON value the field wants (booleans as booleans, repeated as arrays). */
function queryValue(message: DescMessage, path: string, values: string[]): JsonValue {
  let desc: DescMessage = message;
  let field: DescField | undefined;
  for (const part of path.split(".")) {
    field = fieldNamed(desc, part);
    if (field?.fieldKind === "message") desc = field.message;
  }
  const scalar = (raw: string): JsonValue => (field?.fieldKind !== "message" && field?.scalar === 8 /* BOOL */ ? raw === "true" : raw);
  if (field?.fieldKind === "list") return values.map(scalar);
  return scalar(values.at(-1) as string);
}

/**
 * Builds the request message for a matched REST route: path variables, then (per the rule's `body`)
 * the JSON body as the whole request or one field, then query parameters for what is left.
 * Throws INVALID_ARGUMENT for malformed JSON or names that are not fields.
 */
export function transcodeRequest(match: RestMatch, query: URLSearchParams | undefined, body: string): Message {
  const input = match.route.method.method.input;
  const json: JsonObject = {};
  const bodyRule = match.route.binding.body;
  if (bodyRule !== "" && body.trim() !== "") {
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(body) as JsonValue;
    } catch {
      throw new ConnectError("request body is not valid JSON", Code.InvalidArgument);
    }
    if (bodyRule === "*") {
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ConnectError("request body must be a JSON object", Code.InvalidArgument);
      }
      Object.assign(json, parsed);
    } else {
      assign(json, input, bodyRule, parsed, "body field");
    }
  }
  if (bodyRule !== "*" && query !== undefined) {
    for (const key of new Set(query.keys())) {
      assign(json, input, key, queryValue(input, key, query.getAll(key)), "query parameter");
    }
  }
  for (const [path, value] of Object.entries(match.variables)) assign(json, input, path, value, "path variable");
  try {
    return fromJson(input, json);
  } catch (error) {
    throw new ConnectError(error instanceof Error ? error.message : String(error), Code.InvalidArgument);
  }
}
