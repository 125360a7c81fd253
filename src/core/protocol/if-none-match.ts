// If-None-Match (RFC 9110 §13.1.2) for entity reads, whose ETag is the strong tag "<version>", and
// for stream reads, whose tags are opaque (notModified); the list grammar is entity-tags.ts'. A GET
// whose condition is false is answered 304 Not Modified.
//
// - `*` is false when the entity has a current representation (it has recorded an event).
// - A list is false when any of its tags matches by the weak comparison (§8.8.3.2): the opaque
//   tags equal, weak or strong alike, so `W/"7"` and `"7"` both name version 7. A tag that is not
//   a version (`"abc"`) matches nothing.
// - A malformed value is 400, as for If-Match.
import { namesEntityTag, namesVersion, parseVersionCondition, type VersionCondition } from "./entity-tags.js";

/** The condition an If-None-Match header states (its versions: those of all its tags). */
export type IfNoneMatch = VersionCondition;

/** The condition, or undefined when the header is malformed. */
export function parseIfNoneMatch(header: string): IfNoneMatch | undefined {
  return parseVersionCondition(header, "weak");
}

/**
 * Whether a read of an entity at `version` (0: no events yet) satisfies the condition, i.e. is
 * answered in full; false means 304 Not Modified.
 */
export function ifNoneMatchSatisfied(condition: IfNoneMatch, version: number): boolean {
  return !namesVersion(condition, version);
}

/** What a malformed If-None-Match is told (400). */
export const IF_NONE_MATCH_RULE = 'If-None-Match must be "*" or a list of entity tags (at most 1,024 characters)';

/**
 * Whether a GET whose answer would carry `etag` is answered 304 Not Modified under the
 * If-None-Match `header` (its tags compared weakly, `*` matching any current representation), for
 * resources whose tags are not versions (Durable Streams); undefined when the header is malformed.
 */
export function notModified(header: string, etag: string): boolean | undefined {
  return namesEntityTag(header, etag, "weak");
}
