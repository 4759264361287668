import { createHash } from "node:crypto";
import type { DescMethod } from "@bufbuild/protobuf";
import { invalidArgument } from "./errors.js";

/** The `page_size` / `page_token` pair every List request carries (AIP-158). */
export interface PageRequest {
  pageSize: number;
  pageToken: string;
}

/**
 * How a List method's position is written into a token: the key of the last item returned, as
 * strings. `decode` gets the strings back from a caller and must check them (a token is
 * caller-controlled input): undefined for anything it would not have written.
 */
export interface PageKeyCodec<Key> {
  encode(key: Key): string[];
  decode(parts: readonly string[]): Key | undefined;
}

/** One page being served: what to fetch, and how to answer. */
export interface Page<Key> {
  /** Items on the page. */
  readonly size: number;
  /** Rows to fetch: one more than the page, to learn whether another page follows. */
  readonly fetch: number;
  /** The key of the last item of the previous page; undefined on the first page. */
  readonly after: Key | undefined;
  /** The page's items and the token of the next page ("" on the last page). */
  finish<Item>(rows: readonly Item[], keyOf: (item: Item) => Key): { items: Item[]; nextPageToken: string };
}

/** One List method's paging. */
export interface Pagination<Key> {
  /**
   * Reads a List request's `page_size` (0 = the default, above the maximum = the maximum, negative
   * = INVALID_ARGUMENT) and `page_token`. `scope` names what the token is valid for — the caller and
   * every filter of the query — so a token replayed by another caller or with other filters is
   * INVALID_ARGUMENT, as is one this service did not issue.
   */
  read(request: PageRequest, scope?: readonly string[]): Page<Key>;
}

/** Options of {@link pagination}. */
export interface PaginationOptions<Key> {
  /** The List method: a token is valid for this method only. */
  method: DescMethod;
  key: PageKeyCodec<Key>;
  /** Page size when the request says 0; default 20. */
  defaultSize?: number;
  /** Largest page served; default 100. */
  maxSize?: number;
}

const TOKEN_VERSION = "p1";
/** Far longer than any token issued here; longer ones are refused before they are decoded. */
const MAX_TOKEN_LENGTH = 1_024;

/**
 * Paging for one List method, with one opaque page-token format for the whole mesh: base64url of
 * `["p1", <scope digest>, ...key]`. The key is the last item's sort key (keyset pagination: stable
 * under inserts, no offsets), the digest binds the token to the method, the caller and the query.
 * A token is accepted only if the codec would write it again exactly as it came.
 */
export function pagination<Key>(options: PaginationOptions<Key>): Pagination<Key> {
  const defaultSize = options.defaultSize ?? 20;
  const maxSize = options.maxSize ?? 100;
  return {
    read({ pageSize, pageToken }, scope = []) {
      if (pageSize < 0) throw invalidArgument([{ field: "page_size", description: "must not be negative" }]);
      const size = Math.min(pageSize || defaultSize, maxSize);
      const digest = scopeDigest([`${options.method.parent.typeName}/${options.method.name}`, ...scope]);
      const after = pageToken === "" ? undefined : decodeToken(pageToken, digest, options.key);
      return {
        size,
        fetch: size + 1,
        after,
        finish(rows, keyOf) {
          const items = rows.slice(0, size);
          const last = items[items.length - 1];
          const more = rows.length > size && last !== undefined;
          return { items, nextPageToken: more ? encodeToken(digest, options.key.encode(keyOf(last))) : "" };
        },
      };
    },
  };
}

function scopeDigest(scope: readonly string[]): string {
  return createHash("sha256").update(JSON.stringify(scope)).digest("base64url").slice(0, 16);
}

function encodeToken(digest: string, parts: string[]): string {
  return Buffer.from(JSON.stringify([TOKEN_VERSION, digest, ...parts])).toString("base64url");
}

function decodeToken<Key>(token: string, digest: string, codec: PageKeyCodec<Key>): Key {
  const refuse = () => invalidArgument([{ field: "page_token", description: "is not a page token this service issued for this query" }]);
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw refuse();
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(parts) || parts[0] !== TOKEN_VERSION || parts[1] !== digest) throw refuse();
  const key = parts.slice(2);
  if (!key.every((part): part is string => typeof part === "string")) throw refuse();
  // A codec that throws on what it was given (BigInt("1e9"), a Date it cannot print) refuses the
  // token: the token is the caller's input, so its fault is INVALID_ARGUMENT, never INTERNAL.
  let decoded: Key | undefined;
  let again: string;
  try {
    decoded = codec.decode(key);
    again = decoded === undefined ? "" : JSON.stringify(codec.encode(decoded));
  } catch {
    throw refuse();
  }
  // What the codec accepts it must write back the same: no extra parts, no second spelling of a key.
  if (decoded === undefined || again !== JSON.stringify(key)) throw refuse();
  return decoded;
}
