import { Code, type ConnectError } from "@connectrpc/connect";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { describe, expect, it } from "vitest";
import { badRequest, pagination } from "../src/index.js";

/** A List over the numbers 1..n, keyed by the number (as a real method keys by its sort columns). */
const pages = pagination<number>({
  method: InventoryService.method.listProducts,
  key: { encode: (n) => [String(n)], decode: ([n]) => (n !== undefined && /^\d{1,6}$/.test(n) ? Number(n) : undefined) },
  defaultSize: 3,
  maxSize: 5,
});

function list(all: number[], pageSize: number, pageToken: string, scope: string[] = ["ada"]) {
  const page = pages.read({ pageSize, pageToken }, scope);
  const rows = all.filter((n) => page.after === undefined || n > page.after).slice(0, page.fetch);
  return page.finish(rows, (n) => n);
}

function refusal(run: () => unknown) {
  try {
    run();
  } catch (error) {
    return error as ConnectError;
  }
  throw new Error("expected a refusal");
}

describe("pagination", () => {
  const numbers = Array.from({ length: 11 }, (_, i) => i + 1);

  it("walks every item exactly once, page by page, and ends with an empty token", () => {
    const seen: number[] = [];
    let token = "";
    let pagesRead = 0;
    do {
      const { items, nextPageToken } = list(numbers, 4, token);
      seen.push(...items);
      token = nextPageToken;
      pagesRead += 1;
    } while (token !== "");
    expect(seen).toEqual(numbers);
    expect(pagesRead).toBe(3);
  });

  it("serves the default size for 0 and caps a larger size at the maximum", () => {
    expect(list(numbers, 0, "").items).toEqual([1, 2, 3]);
    expect(list(numbers, 1000, "").items).toEqual([1, 2, 3, 4, 5]);
  });

  it("gives no next token when the page holds the last item", () => {
    expect(list([1, 2, 3], 3, "").nextPageToken).toBe("");
    expect(list([1, 2, 3, 4], 3, "").nextPageToken).not.toBe("");
  });

  it("refuses a negative page size with INVALID_ARGUMENT naming page_size", () => {
    const error = refusal(() => pages.read({ pageSize: -1, pageToken: "" }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(badRequest(error)?.fieldViolations[0]?.field).toBe("page_size");
  });

  it("refuses a token from another caller or another query, so tokens cannot be replayed across scopes", () => {
    const { nextPageToken } = list(numbers, 2, "", ["ada"]);
    expect(list(numbers, 2, nextPageToken, ["ada"]).items).toEqual([3, 4]);
    for (const scope of [["bob"], ["ada", "filter"], []]) {
      const error = refusal(() => pages.read({ pageSize: 2, pageToken: nextPageToken }, scope));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(badRequest(error)?.fieldViolations[0]?.field).toBe("page_token");
    }
  });

  it("refuses tokens it did not issue: garbage, forged keys the codec rejects, other versions, huge ones", () => {
    const forge = (parts: unknown) => Buffer.from(JSON.stringify(parts)).toString("base64url");
    const { nextPageToken } = list(numbers, 2, "");
    const [, digest] = JSON.parse(Buffer.from(nextPageToken, "base64url").toString()) as [string, string];
    expect(list(numbers, 2, forge(["p1", digest, "9"])).items).toEqual([10, 11]); // a well-formed key in scope is just a position
    const tokens = [
      "bogus!",
      "e30",
      forge(["p1", digest, "1e9"]),
      forge(["p1", digest, 7]),
      forge(["p0", digest, "1"]),
      forge({}),
      "A".repeat(5_000),
    ];
    // Keys the codec reads but would never write: an extra part, a second spelling of 9.
    tokens.push(forge(["p1", digest, "9", "extra"]), forge(["p1", digest, "09"]));
    for (const token of tokens) {
      const error = refusal(() => pages.read({ pageSize: 2, pageToken: token }, ["ada"]));
      expect(error.code, token.slice(0, 20)).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain("page_token");
    }
  });

  it('refuses with INVALID_ARGUMENT a token whose key the codec throws on, as when a created-at of "1" cannot be read', () => {
    const strict = pagination<Date>({
      method: InventoryService.method.listProducts,
      key: {
        encode: (at) => [at.toISOString()],
        decode: ([at]) => (at === undefined ? undefined : new Date(at)), // "1" is a Date, an invalid one: toISOString throws
      },
    });
    const first = strict.read({ pageSize: 1, pageToken: "" }, ["ada"]).finish([new Date(0), new Date(1)], (at) => at);
    const [, digest] = JSON.parse(Buffer.from(first.nextPageToken, "base64url").toString()) as [string, string];
    const token = Buffer.from(JSON.stringify(["p1", digest, "not a date"])).toString("base64url");
    const error = refusal(() => strict.read({ pageSize: 1, pageToken: token }, ["ada"]));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(badRequest(error)?.fieldViolations[0]?.field).toBe("page_token");
  });

  it("refuses a token issued by another List method, even one paging the same way", () => {
    const other = pagination<number>({
      method: NotificationService.method.listNotifications,
      key: { encode: (n) => [String(n)], decode: ([n]) => Number(n) },
    });
    const token = other.read({ pageSize: 1, pageToken: "" }, ["ada"]).finish([1, 2], (n) => n).nextPageToken;
    expect(token).not.toBe("");
    const error = refusal(() => pages.read({ pageSize: 1, pageToken: token }, ["ada"]));
    expect(error.code).toBe(Code.InvalidArgument);
  });
});
