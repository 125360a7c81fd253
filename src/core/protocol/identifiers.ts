// What a tenant id, entity type and entity id may look like: one grammar, used wherever an id
// enters (URL path segments, body fields that name entities, saga routing, RPC envelopes), so
// an id can never reach outside its tenant's namespace (object names and keys join them with
// ':') and every id that is accepted addresses the same entity by URL.
import { z } from "zod";

export const tenantIdSchema = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/, "1-40 of a-z 0-9 and inner '-'");

export const entityTypeSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);

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
  .regex(/^[A-Za-z0-9._~-]{1,128}$/, "1-128 of A-Z a-z 0-9 . _ ~ -")
  .refine((id) => id !== "." && id !== "..", "'.' and '..' are URL dot segments, which no URL can address");

/** The name of the Durable Object that owns one entity. */
export function entityObjectName(tenant: string, entityType: string, entityId: string): string {
  return `${tenant}:${entityType}:${entityId}`;
}
