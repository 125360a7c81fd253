// The entity-tag lists of RFC 9110's conditional request headers, for entities whose ETag is the
// strong tag "<version>":
//
//   If-Match / If-None-Match = "*" / #entity-tag      entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
//
// - Empty list elements (`"4",` or `, "5"`) are ignored, wherever they are (§5.6.1.2); at least
//   one tag must remain (`1#entity-tag`).
// - Anything else (an unquoted `5`, an unterminated quote, `*` inside a list, an empty value or
//   only commas) is malformed. Which tags count is each header's own rule (if-match.ts: strong
//   comparison; if-none-match.ts: weak comparison, §8.8.3.2); what they name is a version.

/** One entity tag of a list: weak (`W/"7"`) or strong (`"7"`), and its opaque part. */
interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/** A conditional header's value: `*`, or the tags of its list. */
type EntityTagList = { readonly kind: "any" } | { readonly kind: "tags"; readonly tags: readonly EntityTag[] };

/** The longest conditional header read, characters: a pathological one costs a few thousand steps at most. */
export const MAX_ENTITY_TAG_LIST_LENGTH = 1024;
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/;
const VERSION = /^[1-9]\d{0,14}$|^0$/;

/** The header's `*` or list of tags, or undefined when it is malformed or over 1,024 characters. */
function parseEntityTagList(header: string): EntityTagList | undefined {
  const text = header.trim();
  if (text.length === 0 || text.length > MAX_ENTITY_TAG_LIST_LENGTH) return undefined;
  if (text === "*") return { kind: "any" };
  const tags: EntityTag[] = [];
  let rest = text.replace(/^[ \t,]*/, "");
  if (rest.length === 0) return undefined;
  for (;;) {
    const m = ENTITY_TAG.exec(rest);
    if (!m) return undefined;
    tags.push({ weak: m[1] !== undefined, opaque: m[2] ?? "" });
    rest = rest.slice(m[0].length).replace(/^[ \t]*/, "");
    if (rest.length === 0) return { kind: "tags", tags };
    // List elements are separated by a comma and optional whitespace (RFC 9110 §5.6.1).
    if (rest[0] !== ",") return undefined;
    rest = rest.slice(1).replace(/^[ \t,]*/, "");
    if (rest.length === 0) return { kind: "tags", tags };
  }
}

/**
 * Whether a conditional header names the representation whose entity tag is `etag` (as sent in
 * `ETag`: `"…"` or `W/"…"`), its tags compared by `comparison` (§8.8.3.2) and `*` naming any;
 * undefined when the header is malformed. For resources whose tags are not versions (streams).
 */
export function namesEntityTag(header: string, etag: string, comparison: "strong" | "weak"): boolean | undefined {
  const list = parseEntityTagList(header);
  if (list === undefined) return undefined;
  if (list.kind === "any") return true;
  const weak = etag.startsWith("W/");
  const opaque = (weak ? etag.slice(2) : etag).slice(1, -1);
  return list.tags.some((t) => t.opaque === opaque && (comparison === "weak" || !(t.weak || weak)));
}

/** What a conditional header names: `*` (the entity exists), or the versions its tags name. */
export type VersionCondition =
  | { readonly kind: "any" }
  /** Empty when no tag counts or names a version (`"07"`, `"abc"`): then it names none. */
  | { readonly kind: "versions"; readonly versions: readonly number[] };

/**
 * The condition a header states, its tags compared by RFC 9110 §8.8.3.2's `comparison` (strong
 * counts only strong tags, weak counts weak and strong alike), or undefined when it is malformed.
 */
export function parseVersionCondition(header: string, comparison: "strong" | "weak"): VersionCondition | undefined {
  const list = parseEntityTagList(header);
  if (list === undefined || list.kind === "any") return list;
  const versions = list.tags
    .filter((t) => comparison === "weak" || !t.weak)
    .flatMap((t) => (VERSION.test(t.opaque) ? [Number(t.opaque)] : []));
  return { kind: "versions", versions };
}

/** Whether `condition` names an entity at `version` (0: no events yet, which `*` does not name). */
export function namesVersion(condition: VersionCondition, version: number): boolean {
  return condition.kind === "any" ? version > 0 : condition.versions.includes(version);
}
