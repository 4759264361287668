import { create, type DescField, type DescMessage, getOption, hasOption, isFieldSet, type Message } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator, type Validator, type Violation } from "@bufbuild/protovalidate";
import {
  field as fieldRules,
  MapRulesSchema,
  message as messageRules,
  RepeatedRulesSchema,
  StringRulesSchema,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { RE2JS } from "@bufbuild/re2";
import { Code, ConnectError } from "@connectrpc/connect";
import { type FieldViolation, invalidArgument } from "../errors.js";

/** How many violations an INVALID_ARGUMENT lists in its `google.rpc.BadRequest`; the rest are counted. */
export const MAX_LISTED_VIOLATIONS = 20;

/** Checks one message against the `buf.validate` rules of its type: undefined when it passes. */
export type RequestCheck = (message: Message) => ConnectError | undefined;

/**
 * A repeated field, map or string with a size limit, and where it is: checked before protovalidate
 * runs, so an oversized list is refused without a rule being evaluated on each of its items, and an
 * overlong string without its pattern or format being matched.
 */
interface SizeLimit {
  field: DescField;
  max: number;
  rule: "repeated.max_items" | "map.max_pairs" | "string.max_len" | "message";
  /** Limits inside the field's messages (a bounded list of messages, or a singular message). */
  inner: SizeLimit[];
}

let shared: Validator | undefined;
/** One protovalidate validator for the process: it caches each message type's compiled rules. */
function validator(): Validator {
  shared ??= createValidator({ regexMatch: matchPattern });
  return shared;
}

/**
 * One anchored character class repeated, `^[…]*$` or `^[…]+$`, of printable ASCII, ranges and
 * `\xHH` escapes (no nested classes, no other escapes): every `string.pattern` of the contracts.
 * Such a pattern means the same in RE2 and in a JavaScript `u` RegExp, and matches in linear time.
 */
const ONE_CLASS = /^\^\[\^?(?:[ -Z_-~]|\\x[0-9A-Fa-f]{2}|\\[-\\\]^])+\][*+]\$$/;
/** Probes that must get the same answer from both engines before the native one is trusted with a pattern. */
const PROBES = [
  "",
  ...Array.from({ length: 128 }, (_, code) => String.fromCharCode(code)),
  "SKU-MUG-001",
  "a b",
  "é",
  "✓",
  "𝄞",
  "\uD800",
  "\uFFFD",
  "\u0085",
  "\u00A0",
];
const patternTests = new Map<string, (text: string) => boolean>();

/**
 * protovalidate's regex engine for `string.pattern` (and CEL `matches()`): RE2 semantics, as its
 * default, but a pattern of the {@link ONE_CLASS} shape runs as a native RegExp once both engines
 * agreed on every probe — RE2 in JavaScript took ~2–4 µs of a GetProduct call's server CPU
 * (bench/platform/profile.mjs), the native test a fraction of one. Any other pattern is RE2's;
 * a pattern RE2 refuses throws, as with the default.
 */
export function matchPattern(pattern: string, against: string): boolean {
  let test = patternTests.get(pattern);
  if (!test) {
    // bounded like protovalidate's own cache: CEL rules may build patterns from input
    if (patternTests.size >= 1024) patternTests.clear();
    test = compilePattern(pattern);
    patternTests.set(pattern, test);
  }
  return test(against);
}

function compilePattern(pattern: string): (text: string) => boolean {
  const re2 = RE2JS.compile(pattern);
  const byRe2 = (text: string) => re2.test(text);
  if (!ONE_CLASS.test(pattern)) return byRe2;
  let native: RegExp;
  try {
    native = new RegExp(pattern, "u");
  } catch {
    return byRe2;
  }
  if (PROBES.some((probe) => native.test(probe) !== re2.test(probe))) return byRe2;
  return (text) => native.test(text);
}
const checks = new WeakMap<DescMessage, RequestCheck>();

/**
 * The check of `schema`'s `buf.validate` rules, built once per message type: first every
 * `max_items` / `max_pairs` limit (so the work is bounded by the limits, not by what a caller
 * sent), then protovalidate; INVALID_ARGUMENT with at most {@link MAX_LISTED_VIOLATIONS} field
 * violations in a `google.rpc.BadRequest`, and the number of the rest.
 */
export function requestCheck(schema: DescMessage): RequestCheck {
  let check = checks.get(schema);
  if (!check) {
    check = buildCheck(schema);
    checks.set(schema, check);
  }
  return check;
}

function buildCheck(schema: DescMessage): RequestCheck {
  const limits = sizeLimits(schema, new Set());
  const hasRules = limits.length > 0 || declaresRules(schema, new Set());
  if (!hasRules) return () => undefined;
  // protovalidate compiles a type's rules (CEL included) on first use, which takes up to a second:
  // done here, when the server is built, rather than in the first caller's request.
  validator().validate(schema, create(schema));
  return (message) => {
    const oversized: FieldViolation[] = [];
    checkSizes(message as unknown as Record<string, unknown>, limits, "", oversized);
    if (oversized.length > 0) return refuse(oversized, oversized.length);
    const result = validator().validate(schema, message as never);
    if (result.kind === "valid") return undefined;
    if (result.kind === "error") {
      // A rule that cannot be evaluated is the contract's fault, not the caller's.
      return new ConnectError(`validation rules of ${schema.typeName} failed to run`, Code.Internal, undefined, undefined, result.error);
    }
    const listed = result.violations.slice(0, MAX_LISTED_VIOLATIONS).map(toFieldViolation);
    return refuse(listed, result.violations.length);
  };
}

function refuse(listed: FieldViolation[], total: number): ConnectError {
  const unlisted = total - listed.length;
  return invalidArgument(listed, unlisted > 0 ? `invalid request (${total} violations, ${unlisted} not listed)` : "invalid request", {
    violations: String(total),
  });
}

function toFieldViolation(violation: Violation): FieldViolation {
  return { field: pathToString(violation.field), description: violation.message };
}

function rulesOf(field: DescField) {
  return hasOption(field, fieldRules) ? getOption(field, fieldRules) : undefined;
}

/** Whether any field of `schema`, or of a message in it, carries rules (or the message itself does). */
function declaresRules(schema: DescMessage, seen: Set<string>): boolean {
  if (seen.has(schema.typeName)) return false;
  seen.add(schema.typeName);
  if (hasOption(schema, messageRules)) return true;
  return schema.fields.some(
    (field) =>
      rulesOf(field) !== undefined ||
      ((field.fieldKind === "message" || field.fieldKind === "list") && field.message && declaresRules(field.message, seen)),
  );
}

function sizeLimits(schema: DescMessage, seen: Set<string>): SizeLimit[] {
  if (seen.has(schema.typeName)) return []; // recursive types: the outer limits bound them
  const inner = new Set([...seen, schema.typeName]);
  const limits: SizeLimit[] = [];
  for (const field of schema.fields) {
    const rules = rulesOf(field);
    const nested = (field.fieldKind === "message" || field.fieldKind === "list") && field.message ? sizeLimits(field.message, inner) : [];
    if (field.fieldKind === "list" && rules?.type.case === "repeated" && isFieldSet(rules.type.value, RepeatedRulesSchema.field.maxItems)) {
      limits.push({ field, max: Number(rules.type.value.maxItems), rule: "repeated.max_items", inner: nested });
    } else if (field.fieldKind === "map" && rules?.type.case === "map" && isFieldSet(rules.type.value, MapRulesSchema.field.maxPairs)) {
      limits.push({ field, max: Number(rules.type.value.maxPairs), rule: "map.max_pairs", inner: [] });
    } else if (
      field.fieldKind === "scalar" &&
      rules?.type.case === "string" &&
      isFieldSet(rules.type.value, StringRulesSchema.field.maxLen)
    ) {
      limits.push({ field, max: Number(rules.type.value.maxLen), rule: "string.max_len", inner: [] });
    } else if (field.fieldKind === "message" && nested.length > 0) {
      limits.push({ field, max: Number.POSITIVE_INFINITY, rule: "message", inner: nested });
    }
  }
  return limits;
}

/** Records every list or map over its limit; looks inside a list's items only when the list is within it. */
function checkSizes(message: Record<string, unknown>, limits: SizeLimit[], prefix: string, out: FieldViolation[]): void {
  for (const limit of limits) {
    const value = message[limit.field.localName];
    const path = prefix + limit.field.name;
    if (limit.rule === "message") {
      if (value !== undefined) checkSizes(value as Record<string, unknown>, limit.inner, `${path}.`, out);
      continue;
    }
    if (limit.rule === "string.max_len") {
      if (typeof value === "string" && longerThan(value, limit.max))
        out.push({ field: path, description: `must be at most ${limit.max} characters` });
      continue;
    }
    const size = Array.isArray(value) ? value.length : value && typeof value === "object" ? Object.keys(value).length : 0;
    if (size > limit.max) {
      const noun = limit.rule === "map.max_pairs" ? "pair(s)" : "item(s)";
      out.push({ field: path, description: `must contain no more than ${limit.max} ${noun}` });
    } else if (limit.inner.length > 0 && Array.isArray(value)) {
      for (const [i, item] of value.entries()) checkSizes(item as Record<string, unknown>, limit.inner, `${path}[${i}].`, out);
    }
  }
}

/** Whether `text` has more than `max` characters (code points), looking at no more than it must. */
function longerThan(text: string, max: number): boolean {
  if (text.length <= max) return false; // UTF-16 units >= code points
  if (text.length > 2 * max) return true; // every code point is at most two units
  let count = 0;
  for (const _ of text) if (++count > max) return true;
  return false;
}
