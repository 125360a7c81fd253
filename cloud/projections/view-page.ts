// Keyset pages of a view's list (`GET /v1/views/{view}`): rows in the order of their key, a page
// asked for with one row more than its limit, so a page after which rows remain always says so
// (its `next`, and an RFC 8288 `Link: <…>; rel="next"`) and a list is never silently cut.
import { entityIdSchema } from "../../src/core/protocol/identifiers.js";

/** A page of a list: its rows, and the cursor of the page after it (null when it is the last). */
export interface ViewPage {
  readonly items: unknown[];
  readonly next: string | null;
}

/**
 * The opaque cursor of the page after the row keyed `key`: base64url (RFC 4648 §5, no padding) of
 * the key's UTF-8 bytes. `cursorKey(viewCursor(k)) === k` for every entity id `k`.
 */
export function viewCursor(key: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(key)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The ASCII text a cursor `viewCursor` gave stands for, or undefined when `cursor` is longer than
 * `maxLength` or not base64url of ASCII text in its one canonical spelling. Other keyset lists
 * (the admin API's sagas) encode their own positions as such text.
 */
export function cursorText(cursor: string, maxLength = 200): string | undefined {
  if (cursor.length > maxLength || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let text: string;
  try {
    // One char per byte: only ASCII text (each char its own UTF-8 byte) re-encodes to the cursor.
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  return viewCursor(text) === cursor ? text : undefined;
}

/**
 * The row key a cursor stands for, or undefined when `cursor` is no cursor `viewCursor` gives: not
 * base64url in its one canonical spelling, or not of an entity id (views are keyed by entity ids).
 */
export function cursorKey(cursor: string): string | undefined {
  const key = cursorText(cursor);
  return key !== undefined && entityIdSchema.safeParse(key).success ? key : undefined;
}

/**
 * The page of `limit` rows in `rows`, which a projection listed with limit + 1 after `after` (a
 * row key): `next` is the cursor of its last row when `rows` held more than `limit`, else null.
 * Throws (a 500: the projection's bug, not the client's) when a row has no string `keyField`, or
 * when the first row is not after `after`, so a list that ignores the cursor cannot loop a client.
 */
export function viewPage(
  rows: readonly unknown[],
  limit: number,
  keyField: string,
  after: string | undefined,
): ViewPage {
  const first = rows[0];
  if (first !== undefined && after !== undefined && rowKey(first, keyField) <= after) {
    throw new Error(`a view listed the row ${rowKey(first, keyField)}, which is not after its cursor's ${after}`);
  }
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last !== undefined ? viewCursor(rowKey(last, keyField)) : null };
}

/**
 * The RFC 8288 `Link` header value naming the page after this one: `<path?query>; rel="next"`, a
 * reference relative to the request (RFC 3986 §4.2) to `url` with its other query parameters kept
 * and `after` set to `next`.
 */
export function nextLink(url: URL, next: string): string {
  const target = new URL(url);
  target.searchParams.set("after", next);
  return `<${target.pathname}${target.search}>; rel="next"`;
}

function rowKey(row: unknown, field: string): string {
  const key =
    typeof row === "object" && row !== null && Object.hasOwn(row, field) ? Reflect.get(row, field) : undefined;
  if (typeof key !== "string") throw new Error(`a view listed a row without a string ${field}`);
  return key;
}
