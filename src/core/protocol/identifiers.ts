// What a tenant id, entity type and entity id may look like: one grammar, used wherever an id
// enters (URL path segments, body fields that name entities, saga routing, RPC envelopes), so
// an id can never reach outside its tenant's namespace (object names and keys join them with
// ':') and every id that is accepted addresses the same entity by URL.
import { z } from "zod";

const TENANT_ID_RULE = "1-40 of a-z 0-9 and inner '-'";

/** A tenant id; a missing one (a required query parameter, a body field) is told so, not zod's type error. */
export const tenantIdSchema = z
  .string({
    error: (issue) => (issue.input === undefined ? `a tenant id is required: ${TENANT_ID_RULE}` : TENANT_ID_RULE),
  })
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/, TENANT_ID_RULE);

/**
 * Control characters and the bidirectional formatting ones (Unicode TR9: LRE…RLO, LRI…PDI, the
 * marks): text shown beside other text must not reorder it (a name ending in U+202E shows what
 * follows it reversed, the trick of CVE-2021-42574).
 */
const CONTROL_OR_BIDI = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** A tenant's display name: 1-200 characters once trimmed, none of them control or bidi formatting. */
export const tenantNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((name) => !CONTROL_OR_BIDI.test(name), "may not hold control or bidirectional formatting characters");

export const entityTypeSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

/**
 * A saga's name: it is the middle part of every instance's id (`tenant:saga:instance`), so it may
 * hold neither ':' nor '/' (the separators of saga ids and task idempotency keys).
 */
export const sagaNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

/**
 * An entity id: 1-128 of the URL's unreserved characters (RFC 3986 §2.3: A-Z a-z 0-9 - . _ ~),
 * except the dot segments `.` and `..`, which a URL parser removes (RFC 3986 §5.2.4) so no URL
 * could reach them. ASCII only on purpose: a Unicode id has several spellings (NFC, NFD,
 * percent-encodings) that would name different objects, and no '/', '%', '?', '#', whitespace
 * or control character can change a URL's meaning. Such an id needs no percent-encoding, so
 * `encodeURIComponent(id) === id` and a URL built from it routes back to exactly it.
 */
export const entityIdSchema = z
  .string()
  // One pattern, dot segments included, so the API document's `pattern` is the whole rule.
  .regex(
    /^(?!\.\.?$)[A-Za-z0-9._~-]{1,128}$/,
    "1-128 of A-Z a-z 0-9 . _ ~ -, not '.' or '..' (URL dot segments, which no URL can address)",
  );

/** The name of the Durable Object that owns one entity. */
export function entityObjectName(tenant: string, entityType: string, entityId: string): string {
  return `${tenant}:${entityType}:${entityId}`;
}
