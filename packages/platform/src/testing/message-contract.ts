import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/**
 * What a consumer relies on in one message type, as `"<field path>": "<number> <type>"`: a field
 * path is proto field names joined by dots (into message fields), the type a scalar's proto name
 * (`string`, `int64`, …) or a message's or enum's full name, preceded by `repeated ` for a list.
 * E.g. `{ "order": "3 shop.order.v1.Order", "order.lines.quantity": "2 int32" }`.
 */
export type MessageContract = Readonly<Record<string, string>>;

/** A consumer's contract: the message types it takes, each with the fields it reads. */
export type ConsumerContract = Readonly<Record<string, MessageContract>>;

/**
 * Checks a consumer's contract against the producer's descriptors (as generated from its
 * protos): every message type must exist and every field path must resolve to a field with
 * the same name, number and type. Returns what does not hold, one line each (empty: it holds).
 */
export function contractViolations(contract: ConsumerContract, lookup: (typeName: string) => DescMessage | undefined): string[] {
  const violations: string[] = [];
  for (const [typeName, fields] of Object.entries(contract)) {
    const message = lookup(typeName);
    if (!message) {
      violations.push(`${typeName}: no such message`);
      continue;
    }
    for (const [path, expected] of Object.entries(fields)) {
      const field = resolve(message, path.split("."));
      if (typeof field === "string") violations.push(`${typeName}.${path}: ${field}`);
      else if (describeField(field) !== expected)
        violations.push(`${typeName}.${path}: expected "${expected}", the producer has "${describeField(field)}"`);
    }
  }
  return violations;
}

/** `"<number> [repeated ]<type>"` of a field, in the form a contract names it. */
export function describeField(field: DescField): string {
  const type = (() => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarName(field.scalar);
      case "enum":
        return field.enum.typeName;
      case "message":
        return field.message.typeName;
      case "list":
        return `repeated ${field.listKind === "scalar" ? scalarName(field.scalar) : field.listKind === "enum" ? field.enum.typeName : field.message.typeName}`;
      case "map":
        return `map<${scalarName(field.mapKey)}, ${field.mapKind === "scalar" ? scalarName(field.scalar) : field.mapKind === "enum" ? field.enum.typeName : field.message.typeName}>`;
    }
  })();
  return `${field.number} ${type}`;
}

function resolve(message: DescMessage, path: string[]): DescField | string {
  const [name, ...rest] = path;
  const field = message.fields.find((f) => f.name === name);
  if (!field) return `no field "${name}" in ${message.typeName}`;
  if (rest.length === 0) return field;
  const next = field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field.message : undefined;
  if (!next) return `"${name}" in ${message.typeName} is not a message`;
  return resolve(next, rest);
}

function scalarName(scalar: ScalarType): string {
  return ScalarType[scalar].toLowerCase();
}
