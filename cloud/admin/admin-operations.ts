// The OpenAPI description of the admin API (cloud/admin/admin-routes.ts, cloud/admin/tenant-policy-routes.ts).
// A route added to the admin API is documented by adding its operation here; the contract suite
// fails for any route the app serves that no operation describes.
import { z } from "zod";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import type { Operation, Parameter } from "../../src/core/http/openapi.js";
import { corsPolicySchema, rateLimitSchema } from "../../src/core/security/tenant-policy.js";
import { createTenantSchema } from "./admin-routes.js";

const tenant = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(["active", "suspended"]),
  createdAt: z.string(),
  rateLimit: rateLimitSchema.nullable(),
  corsOrigins: z.array(z.string()),
});
const key = z.object({ keyId: z.string(), createdAt: z.number(), revokedAt: z.number().nullable(), lastUsedAt: z.number().nullable() });
const tenantShown = tenant.extend({ keys: z.array(key), stats: z.object({ deadLetters: z.number().int() }) });
const policy = z.object({ id: z.string(), status: z.enum(["active", "suspended"]), rateLimit: rateLimitSchema.nullable(), corsOrigins: z.array(z.string()) });
const deadLetter = z.object({
  id: z.string(),
  tenantId: z.string(),
  projection: z.string().nullable(),
  entityType: z.string(),
  entityId: z.string(),
  seq: z.number().int(),
  body: z.string(),
  error: z.string(),
  attempts: z.number().int(),
  createdAt: z.number(),
  replayedAt: z.number().nullable(),
});

const parkedFact = z.object({
  id: z.string(),
  tenantId: z.string(),
  entityType: z.string(),
  entityId: z.string(),
  seq: z.number().int(),
  eventType: z.string(),
  bytes: z.number().int(),
  reason: z.string(),
  parkedAt: z.number(),
  acknowledgedAt: z.number().nullable(),
});

const tenantId: Parameter = { name: "id", in: "path", schema: tenantIdSchema, description: "the tenant's id" };

function op(o: Omit<Operation, "tag" | "auth">): Operation {
  return { tag: "admin", auth: "admin", ...o };
}

export const adminOperations: readonly Operation[] = [
  op({
    method: "post",
    path: "/admin/tenants",
    operationId: "admin.tenants.create",
    summary: "create a tenant and its first API key (shown once)",
    requestBody: createTenantSchema,
    responses: { 201: { description: "the tenant and its key", content: { kind: "json", schema: z.object({ tenant, apiKey: z.string(), keyId: z.string() }) } } },
    problems: [400, 409, 413, 415],
  }),
  op({
    method: "get",
    path: "/admin/tenants",
    operationId: "admin.tenants.list",
    summary: "list tenants",
    responses: { 200: { description: "the tenants", content: { kind: "json", schema: z.object({ items: z.array(tenant) }) } } },
  }),
  op({
    method: "get",
    path: "/admin/tenants/{id}",
    operationId: "admin.tenants.show",
    summary: "a tenant with its keys (never the keys themselves) and stats",
    parameters: [tenantId],
    responses: { 200: { description: "the tenant", content: { kind: "json", schema: tenantShown } } },
    problems: [404],
  }),
  ...(["suspend", "resume"] as const).map((action) =>
    op({
      method: "post",
      path: `/admin/tenants/{id}/${action}`,
      operationId: `admin.tenants.${action}`,
      summary: action === "suspend" ? "suspend a tenant: its requests are refused with 403 at once" : "resume a suspended tenant",
      parameters: [tenantId],
      responses: { 200: { description: "the tenant", content: { kind: "json", schema: tenant } } },
      problems: [404],
    }),
  ),
  op({
    method: "post",
    path: "/admin/tenants/{id}/keys",
    operationId: "admin.keys.issue",
    summary: "issue another API key (shown once)",
    parameters: [tenantId],
    responses: { 201: { description: "the key", content: { kind: "json", schema: z.object({ keyId: z.string(), apiKey: z.string() }) } } },
    problems: [404],
  }),
  op({
    method: "delete",
    path: "/admin/tenants/{id}/keys/{keyId}",
    operationId: "admin.keys.revoke",
    summary: "revoke an API key: refused with 401 at once",
    parameters: [tenantId, { name: "keyId", in: "path", schema: z.string() }],
    responses: { 204: { description: "revoked", content: { kind: "none" } } },
    problems: [404],
  }),
  op({
    method: "put",
    path: "/admin/tenants/{id}/rate-limit",
    operationId: "admin.tenants.setRateLimit",
    summary: "set the tenant's fair-use limit: a token bucket shared by all its keys and isolates",
    parameters: [tenantId],
    requestBody: rateLimitSchema,
    responses: { 200: { description: "the tenant's policy", content: { kind: "json", schema: policy } } },
    problems: [400, 404, 413, 415],
  }),
  op({
    method: "delete",
    path: "/admin/tenants/{id}/rate-limit",
    operationId: "admin.tenants.clearRateLimit",
    summary: "lift the tenant's rate limit",
    parameters: [tenantId],
    responses: { 200: { description: "the tenant's policy", content: { kind: "json", schema: policy } } },
    problems: [404],
  }),
  op({
    method: "put",
    path: "/admin/tenants/{id}/cors",
    operationId: "admin.tenants.setCors",
    summary: "set the browser origins allowed to call the tenant API",
    parameters: [tenantId],
    requestBody: corsPolicySchema,
    responses: { 200: { description: "the tenant's policy", content: { kind: "json", schema: policy } } },
    problems: [400, 404, 413, 415],
  }),
  op({
    method: "get",
    path: "/admin/dead-letters",
    operationId: "admin.deadLetters.list",
    summary: "facts the consumer gave up on, not yet replayed",
    parameters: [{ name: "tenant", in: "query", schema: z.union([tenantIdSchema, z.literal("(unknown)")]), description: "a tenant id, or (unknown) for letters that named no valid tenant" }],
    responses: { 200: { description: "the dead letters", content: { kind: "json", schema: z.object({ items: z.array(deadLetter) }) } } },
    problems: [400],
  }),
  op({
    method: "post",
    path: "/admin/dead-letters/{id}/replay",
    operationId: "admin.deadLetters.replay",
    summary: "send a dead letter to the facts queue again",
    parameters: [{ name: "id", in: "path", schema: z.string() }],
    responses: { 202: { description: "re-sent", content: { kind: "json", schema: z.object({ replayed: z.literal(true) }) } } },
    problems: [404],
  }),
  op({
    method: "get",
    path: "/admin/parked-facts",
    operationId: "admin.parkedFacts.list",
    summary: "facts too large for the queue, parked by their entity's relay and not yet acknowledged",
    description: "The consumer still applies a parked fact, reading it from its entity; the list is for the operator to act on its cause.",
    parameters: [{ name: "tenant", in: "query", schema: tenantIdSchema }],
    responses: { 200: { description: "the parked facts", content: { kind: "json", schema: z.object({ items: z.array(parkedFact) }) } } },
  }),
  op({
    method: "post",
    path: "/admin/parked-facts/{id}/acknowledge",
    operationId: "admin.parkedFacts.acknowledge",
    summary: "take a parked fact (by event id) off the list once its cause is dealt with",
    parameters: [{ name: "id", in: "path", schema: z.string() }],
    responses: { 200: { description: "acknowledged", content: { kind: "json", schema: z.object({ acknowledged: z.literal(true) }) } } },
    problems: [404],
  }),
  op({
    method: "get",
    path: "/admin/tenants/{id}/metrics",
    operationId: "admin.tenants.metrics",
    summary: "the tenant's per-minute request, command and latency metrics",
    parameters: [tenantId, { name: "minutes", in: "query", schema: z.string().regex(/^\d{1,4}$/), description: "window, 1-1440 (default 60)" }],
    responses: { 200: { description: "the metrics", content: { kind: "json", schema: z.record(z.string(), z.unknown()) } } },
    problems: [400, 404],
  }),
  op({
    method: "get",
    path: "/admin/projections",
    operationId: "admin.projections.list",
    summary: "projections with their lag (and rebuild status, for one tenant)",
    parameters: [{ name: "tenant", in: "query", schema: tenantIdSchema }],
    responses: { 200: { description: "the projections", content: { kind: "json", schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) } } },
  }),
  op({
    method: "post",
    path: "/admin/projections/{name}/rebuild",
    operationId: "admin.projections.rebuild",
    summary: "rebuild one projection for one tenant from the entities' logs",
    parameters: [{ name: "name", in: "path", schema: z.string() }, { name: "tenant", in: "query", schema: tenantIdSchema, required: true }],
    responses: { 202: { description: "the rebuild started", content: { kind: "json", schema: z.record(z.string(), z.unknown()) } } },
    problems: [400, 404, 409],
  }),
];
