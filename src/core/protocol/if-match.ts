// If-Match (RFC 9110 §13.1.1) for entity commands, whose ETag is the strong tag "<version>"; the
// list grammar is entity-tags.ts'.
//
// - `*` matches when the entity has a current representation: it exists, i.e. has recorded at
//   least one event (version ≥ 1). A fresh entity (version 0) does not match: 412.
// - A list matches when any of its tags matches by the strong comparison (§8.8.3.2): both tags
//   strong and their opaque tags equal. A weak tag `W/"7"` therefore never matches, and a strong
//   tag that is not a version (`"abc"`) is well-formed but matches nothing.
// - A malformed value is 400.
import { namesVersion, parseVersionCondition, type VersionCondition } from "./entity-tags.js";

/** The precondition an If-Match header states (its versions: those of its strong tags). */
export type IfMatch = VersionCondition;

/** The precondition, or undefined when the header is malformed. */
export function parseIfMatch(header: string): IfMatch | undefined {
  return parseVersionCondition(header, "strong");
}

/** Whether an entity at `version` (0: no events yet) satisfies the precondition. */
export function ifMatchSatisfied(condition: IfMatch, version: number): boolean {
  return namesVersion(condition, version);
}
