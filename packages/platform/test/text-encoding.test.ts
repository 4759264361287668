import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { getTextEncoding } from "@bufbuild/protobuf/wire";
import { GetProductResponseSchema } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { describe, expect, it } from "vitest";
import { serializerFor } from "../src/adapter/serialization.js";
import { useBufferTextEncoding } from "../src/text-encoding.js";

const SAMPLES = [
  "",
  "SKU-MUG-001",
  "grüße, naïve café",
  "✓ 漢字 ﷽",
  "𝄞 emoji 🎉 astral",
  "lone high \uD800 surrogate",
  "lone low \uDC00 surrogate",
  "reversed pair \uDC00\uD800",
  "nul \u0000 and DEL \u007f",
  "x".repeat(70_000),
];

const message = (text: string) => ({
  product: { sku: text, name: `${text}!`, description: text, price: { currencyCode: "EUR", amountMinor: 5n } },
});
// protobuf-es's own encoding (TextEncoder), taken before anything configures the platform's.
const defaultEncoding = getTextEncoding();
const reference = SAMPLES.map((text) => Buffer.from(toBinary(GetProductResponseSchema, create(GetProductResponseSchema, message(text)))));

describe("the platform's text encoding (Buffer.from instead of TextEncoder)", () => {
  it("encodes every string to the same bytes as TextEncoder, lone surrogates included", () => {
    useBufferTextEncoding();
    const encoder = new TextEncoder();
    for (const text of SAMPLES) {
      const bytes = getTextEncoding().encodeUtf8(text);
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(bytes).equals(Buffer.from(encoder.encode(text)))).toBe(true);
    }
  });

  it("keeps messages byte-identical on the wire and decodable", () => {
    const serialize = serializerFor(GetProductResponseSchema);
    expect(getTextEncoding()).not.toBe(defaultEncoding);
    for (const [i, text] of SAMPLES.entries()) {
      const bytes = serialize(message(text));
      expect(bytes.equals(reference[i] as Buffer)).toBe(true);
      const decoded = fromBinary(GetProductResponseSchema, bytes);
      expect(decoded.product?.name).toBe(new TextDecoder().decode(new TextEncoder().encode(`${text}!`)));
    }
  });

  it("is idempotent and leaves decoding and the UTF-8 check to protobuf-es", () => {
    useBufferTextEncoding();
    const once = getTextEncoding();
    useBufferTextEncoding();
    expect(getTextEncoding()).toBe(once);
    expect(once.checkUtf8("ok")).toBe(true);
    expect(once.checkUtf8("\uD800")).toBe(false);
    expect(once.decodeUtf8(new Uint8Array([0xe2, 0x9c, 0x93]), false)).toBe("✓");
  });
});
