import { RE2JS } from "@bufbuild/re2";
import { describe, expect, it } from "vitest";
import { matchPattern } from "../src/validation/request-validation.js";

// Every string.pattern the contracts declare, and shapes near them.
const PATTERNS = ["^[!-~]*$", "^[A-Za-z0-9_-]*$", "^[^\\x00]*$", "^[a-z]+$", "^[\\x20-\\x7e]*$", "^[^\\-\\]]*$"];
// Patterns outside the native path: RE2 decides (here \s and \b differ from JavaScript's, and . on astral code points).
const RE2_ONLY = ["^\\s*$", "\\bword\\b", "^.$", "^(a|b)+$", "^[[:alpha:]]+$", "(?i)^abc$", "^\\pL+$"];
const TEXTS = [
  "",
  "SKU-MUG-001",
  "order_42-x",
  "with space",
  "tab\there",
  "new\nline",
  "nul\u0000inside",
  "grüße",
  "✓",
  "𝄞",
  "a",
  "abc",
  "ABC",
  "word",
  "a word here",
  "\u00a0",
  "\u2003",
  "\u0085",
  "lone \ud800 high",
  "lone \udc00 low",
  "-]",
  "\u007f",
  "~!",
  "x".repeat(10_000),
  `${"!".repeat(5_000)}\u0000`,
];

describe("string.pattern matching (RE2 semantics, native RegExp for one anchored class)", () => {
  it("answers exactly as RE2 for every pattern of the contracts and every text", () => {
    for (const pattern of [...PATTERNS, ...RE2_ONLY]) {
      const re2 = RE2JS.compile(pattern);
      for (const text of TEXTS) expect([pattern, text, matchPattern(pattern, text)]).toEqual([pattern, text, re2.test(text)]);
    }
  });

  it("answers as RE2 for every single code unit and code point class boundary", () => {
    const texts = [
      ...Array.from({ length: 0x300 }, (_, c) => String.fromCharCode(c)),
      "\ud7ff",
      "\ue000",
      "\uffff",
      "\u{10000}",
      "\u{10ffff}",
    ];
    for (const pattern of PATTERNS) {
      const re2 = RE2JS.compile(pattern);
      for (const text of texts) expect([pattern, text, matchPattern(pattern, text)]).toEqual([pattern, text, re2.test(text)]);
    }
  });

  it("refuses a pattern RE2 refuses, as protovalidate's default engine does", () => {
    expect(() => matchPattern("(a)\\1", "aa")).toThrow();
    expect(() => matchPattern("^(?=a)", "a")).toThrow();
  });
});
