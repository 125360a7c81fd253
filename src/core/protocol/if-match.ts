// If-Match (RFC 9110 §13.1.1) for entity commands, whose ETag is the strong tag "<version>".
//
//   If-Match = "*" / #entity-tag      entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
//
// - `*` matches when the entity has a current representation: it exists, i.e. has recorded at
//   least one event (version ≥ 1). A fresh entity (version 0) does not match: 412.
// - A list matches when any of its tags matches by the strong comparison (§8.8.3.2): both tags
//   strong and their opaque tags equal. A weak tag `W/"7"` therefore never matches, and a strong
//   tag that is not a version (`"abc"`) is well-formed but matches nothing.
// - Empty list elements (`"4",` or `, "5"`) are ignored, wherever they are (§5.6.1.2).
// - Anything else (an unquoted `5`, an unterminated quote, `*` inside a list, an empty value or
//   only commas) is malformed: 400.

/** The precondition an If-Match header states. */
export type IfMatch =
  | { readonly kind: "any" }
  /** Versions named by strong tags; empty when every tag was weak or not a version (never matches). */
  | { readonly kind: "versions"; readonly versions: readonly number[] };

// Bounded so a pathological header cannot cost more than a few thousand steps.
const MAX_IF_MATCH_LENGTH = 1024;
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/;
const VERSION = /^[1-9]\d{0,14}$|^0$/;

/** The precondition, or undefined when the header is malformed. */
export function parseIfMatch(header: string): IfMatch | undefined {
  const text = header.trim();
  if (text.length === 0 || text.length > MAX_IF_MATCH_LENGTH) return undefined;
  if (text === "*") return { kind: "any" };
  const versions: number[] = [];
  // A list may have empty elements anywhere, leading and trailing included, which a recipient
  // must ignore (RFC 9110 §5.6.1.2); at least one element must remain (`1#entity-tag`).
  let rest = text.replace(/^[ \t,]*/, "");
  if (rest.length === 0) return undefined;
  for (;;) {
    const m = ENTITY_TAG.exec(rest);
    if (!m) return undefined;
    const weak = m[1] !== undefined;
    const opaque = m[2] ?? "";
    if (!weak && VERSION.test(opaque)) versions.push(Number(opaque));
    rest = rest.slice(m[0].length).replace(/^[ \t]*/, "");
    if (rest.length === 0) return { kind: "versions", versions };
    // List elements are separated by a comma and optional whitespace (RFC 9110 §5.6.1).
    if (rest[0] !== ",") return undefined;
    rest = rest.slice(1).replace(/^[ \t,]*/, "");
    if (rest.length === 0) return { kind: "versions", versions };
  }
}

/** Whether an entity at `version` (0: no events yet) satisfies the precondition. */
export function ifMatchSatisfied(condition: IfMatch, version: number): boolean {
  return condition.kind === "any" ? version > 0 : condition.versions.includes(version);
}
