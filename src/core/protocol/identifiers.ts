// What a tenant id, an entity id and the names a definition gives may look like: one grammar per
// kind, used wherever one enters (URL path segments, body fields that name entities, saga
// routing, RPC envelopes, definitions), so an id can never reach outside its tenant's namespace
// (object names and keys join them with ':') and every id or name that is accepted addresses the
// same thing by URL.
import { z } from "zod";
import { ENTITY_ID, MEMBER_NAME, type NameGrammar, NOT_A_PROTOTYPE_MEMBER, SEGMENT_NAME } from "./names.js";

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

// Names a definition gives: one grammar per kind (names.ts), here as the schemas routes parse with.

function nameSchema(grammar: NameGrammar) {
  return z
    .string()
    .regex(grammar.pattern, grammar.rule)
    .refine((name) => !Object.hasOwn(Object.prototype, name), NOT_A_PROTOTYPE_MEMBER);
}

/** An entity type: the `{type}` segment of `/v1/entities/{type}/…` and part of its objects' names. */
export const entityTypeSchema = nameSchema(SEGMENT_NAME);

/**
 * A saga's name: it is the middle part of every instance's id (`tenant:saga:instance`), so it may
 * hold neither ':' nor '/' (the separators of saga ids and task idempotency keys).
 */
export const sagaNameSchema = nameSchema(SEGMENT_NAME);

/**
 * A projection's name: the `{view}` segment of `/v1/views/{view}`, the first part of its
 * rebuilder's object name (`view:tenant`, so no ':'), and a key of its D1 checkpoints and feeds.
 */
export const projectionNameSchema = nameSchema(SEGMENT_NAME);

/** A saga stage's name: unique within its saga, the key of its timeout in `SAGA_STAGE_TIMEOUTS`. */
export const stageNameSchema = nameSchema(SEGMENT_NAME);

/** A service's name: its key in `defineApp({ services })`, named by sagas' `call` tasks. */
export const serviceNameSchema = nameSchema(SEGMENT_NAME);

/**
 * A command's name: the last segment of `/v1/entities/{type}/{id}/commands/{command}`, part of
 * its operation id (`type.command`) and of every idempotency fingerprint.
 */
export const commandNameSchema = nameSchema(MEMBER_NAME);

/**
 * An event type's name: recorded in every log entry, part of its CloudEvent type
 * (`factline.<type>.<Event>`, so no '.'), a key of projection handlers and saga triggers.
 */
export const eventNameSchema = nameSchema(MEMBER_NAME);

/** A projection filter's name: a query parameter of `/v1/views/{view}`. */
export const filterNameSchema = nameSchema(MEMBER_NAME);

/** An entity id: the grammar `ENTITY_ID` states (names.ts), as the routes parse it. */
export const entityIdSchema = z.string().regex(ENTITY_ID.pattern, ENTITY_ID.rule);

/** The name of the Durable Object that owns one entity. */
export function entityObjectName(tenant: string, entityType: string, entityId: string): string {
  return `${tenant}:${entityType}:${entityId}`;
}
