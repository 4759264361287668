import type { Money } from "@shop/contracts/shop/type/v1/money_pb";

/** Formats Money (integer minor units) in the shopper's locale, without floating-point arithmetic on the amount. */
export function formatMoney(money: Money | undefined): string {
  if (!money) return "—";
  const digits =
    new Intl.NumberFormat(undefined, { style: "currency", currency: money.currencyCode }).resolvedOptions().maximumFractionDigits ?? 2;
  const negative = money.amountMinor < 0n;
  const abs = (negative ? -money.amountMinor : money.amountMinor).toString().padStart(digits + 1, "0");
  const decimal = digits > 0 ? `${abs.slice(0, -digits)}.${abs.slice(-digits)}` : abs;
  // Intl accepts a decimal string since ES2023, so no precision is lost for large amounts.
  return new Intl.NumberFormat(undefined, { style: "currency", currency: money.currencyCode }).format(
    `${negative ? "-" : ""}${decimal}` as unknown as number,
  );
}
