// The one answer every benchmarked GetProduct gives, whatever serves it: a product built from the
// request, as a real handler would, field for field the same so the servers compare fairly.

/** The GetProductResponse for `sku`. */
export function product(sku) {
  return {
    product: {
      sku,
      name: "Enamel mug",
      description: "A sturdy enamel mug.",
      price: { currencyCode: "EUR", amountMinor: 1250n },
      availableQuantity: 7,
    },
  };
}
