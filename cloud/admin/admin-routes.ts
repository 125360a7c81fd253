// The admin API (`Authorization: Bearer <ADMIN_TOKEN>`): tenants and their keys, metrics, dead
// letters, parked facts and projections, each route declared once (`createRoute`).
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { count, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import { adminTokenRefusal } from "../../src/core/security/admin-token.js";
import { projectionNameSchema, tenantIdSchema, tenantNameSchema } from "../../src/core/protocol/identifiers.js";
import { countQuery, json, jsonBody, problems, routeTable, security } from "../../src/core/http/openapi.js";
import { fail } from "../../src/core/http/problem.js";
import { strictJsonBody } from "../../src/core/http/json-body.js";
import { listDeadLetters, replayDeadLetter, UNKNOWN_TENANT } from "../consumer/dead-letters.js";
import { acknowledgeParkedFact, listParkedFacts } from "../consumer/parked-facts.js";
import type { Db } from "../../src/core/model/projection.js";
import { projectionLag } from "../projections/projection-lag.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { servingApp, type CloudApp, type CloudEnv } from "../app.js";
import { sagaAdminRoutes } from "../sagas/saga-admin-routes.js";
import { deadLetters, tenants } from "../schema.js";
import { createTenant, findTenant, issueKey, listKeys, revokeKey, setTenantStatus } from "./tenant-admin.js";
import { presentPolicy, pushTenantPolicy, tenantPolicyRoutes, tenantShape } from "./tenant-policy-routes.js";
import { readTenantMetrics } from "../metrics/tenant-metrics.js";
import { rebuilderStub } from "../stubs.js";

type AdminEnv = CloudEnv;
type PlatformEnv = { Bindings: Env; Variables: RequestScope };

export const createTenantSchema = z.object({ id: tenantIdSchema, name: tenantNameSchema }).strict();

/**
 * The admin API for `app` (mounted at `/admin`), with `extra` routes of the app's own (e.g. an
 * integration's controls) behind the same admin token.
 */
export function adminRoutes(app: CloudApp, extra: readonly OpenAPIHono<PlatformEnv>[] = []): OpenAPIHono<PlatformEnv> {
  const mounted = routeTable<PlatformEnv>();
  mounted.use("*", adminAuth());
  for (const routes of extra) mounted.route("/", routes);
  mounted.route("/", servingApp(app, platformAdminRoutes));
  return mounted;
}

// ---- shapes -------------------------------------------------------------------------------------

const key = z.object({
  keyId: z.string(),
  createdAt: z.number(),
  revokedAt: z.number().nullable(),
  lastUsedAt: z.number().nullable(),
});
const tenantShown = tenantShape.extend({ keys: z.array(key), stats: z.object({ deadLetters: z.number().int() }) });
const deadLetter = z.object({
  id: z.string(),
  tenantId: z.string(),
  projection: z
    .string()
    .nullable()
    .describe("the projection whose handler threw for the fact; null when the failure was no one projection's"),
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
// Objects other modules define (TenantMetrics, a projection's lag and rebuild status).
const anyObject = z.unknown().meta({ type: "object" });
const tenantParam = z.object({ id: z.string().describe("the tenant's id") });
const tenantFilter = tenantIdSchema.optional().describe("only this tenant's");

function adminRoute<const R extends Omit<Parameters<typeof createRoute>[0], "security">>(r: R) {
  return createRoute({ ...r, security: security("admin") });
}

// ---- tenants --------------------------------------------------------------------------------------

const platformAdminRoutes = routeTable<AdminEnv>();
platformAdminRoutes.route("/", sagaAdminRoutes);

platformAdminRoutes.openapi(
  adminRoute({
    method: "post",
    path: "/tenants",
    operationId: "admin.tenants.create",
    summary: "create a tenant and its first API key (shown once)",
    tags: ["admin"],
    middleware: [strictJsonBody()] as const,
    request: { body: jsonBody(createTenantSchema) },
    responses: {
      201: json(z.object({ tenant: tenantShape, apiKey: z.string(), keyId: z.string() }), "the tenant and its key"),
      ...problems("admin", 400, 409, 413, 415),
    },
  }),
  async (c) => {
    const { id, name } = c.req.valid("json");
    const created = await createTenant(drizzle(c.env.DB), id, name);
    if (!created.ok) throw fail("conflict", `tenant ${id} already exists`);
    return c.json({ tenant: present(created.tenant), apiKey: created.apiKey, keyId: created.keyId }, 201);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "get",
    path: "/tenants",
    operationId: "admin.tenants.list",
    summary: "list tenants",
    tags: ["admin"],
    responses: { 200: json(z.object({ items: z.array(tenantShape) }), "the tenants"), ...problems("admin") },
  }),
  async (c) => {
    const db: Db = drizzle(c.env.DB);
    const rows = await db.select().from(tenants).orderBy(desc(tenants.createdAt));
    return c.json({ items: rows.map(present) }, 200);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "get",
    path: "/tenants/{id}",
    operationId: "admin.tenants.show",
    summary: "a tenant with its keys (never the keys themselves) and stats",
    tags: ["admin"],
    request: { params: tenantParam },
    responses: { 200: json(tenantShown, "the tenant"), ...problems("admin", 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const db: Db = drizzle(c.env.DB);
    const tenant = await requireTenant(db, id);
    const [keys, letters] = await db.batch([
      listKeys(db, tenant.id),
      db.select({ n: count() }).from(deadLetters).where(eq(deadLetters.tenantId, tenant.id)),
    ]);
    return c.json({ ...present(tenant), keys, stats: { deadLetters: letters[0]?.n ?? 0 } }, 200);
  },
);

for (const [action, status] of [
  ["suspend", "suspended"],
  ["resume", "active"],
] as const) {
  platformAdminRoutes.openapi(
    adminRoute({
      method: "post",
      path: `/tenants/{id}/${action}`,
      operationId: `admin.tenants.${action}`,
      summary:
        action === "suspend"
          ? "suspend a tenant: its requests are refused with 403 at once"
          : "resume a suspended tenant",
      tags: ["admin"],
      request: { params: tenantParam },
      responses: { 200: json(tenantShape, "the tenant"), ...problems("admin", 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const tenant = await setTenantStatus(drizzle(c.env.DB), id, status);
      if (!tenant) throw fail("not-found", `no tenant ${id}`);
      await pushTenantPolicy(c.env, tenant.id);
      return c.json(present(tenant), 200);
    },
  );
}

platformAdminRoutes.openapi(
  adminRoute({
    method: "get",
    path: "/tenants/{id}/metrics",
    operationId: "admin.tenants.metrics",
    summary: "the tenant's per-minute request, command and latency metrics",
    tags: ["admin"],
    request: {
      params: tenantParam,
      query: z.object({
        minutes: countQuery("minutes", 1, 1440, 60),
      }),
    },
    responses: { 200: json(anyObject, "the metrics"), ...problems("admin", 400, 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const minutes = Number(c.req.valid("query").minutes ?? "60");
    const db: Db = drizzle(c.env.DB);
    const tenant = await requireTenant(db, id);
    return c.json(await readTenantMetrics(db, tenant.id, minutes), 200);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "post",
    path: "/tenants/{id}/keys",
    operationId: "admin.keys.issue",
    summary: "issue another API key (shown once)",
    tags: ["admin"],
    request: { params: tenantParam },
    responses: { 201: json(z.object({ keyId: z.string(), apiKey: z.string() }), "the key"), ...problems("admin", 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const db: Db = drizzle(c.env.DB);
    const tenant = await requireTenant(db, id);
    return c.json(await issueKey(db, tenant.id), 201);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "delete",
    path: "/tenants/{id}/keys/{keyId}",
    operationId: "admin.keys.revoke",
    summary: "revoke an API key: refused with 401 at once",
    tags: ["admin"],
    request: { params: tenantParam.extend({ keyId: z.string() }) },
    responses: { 204: { description: "revoked" }, ...problems("admin", 404) },
  }),
  async (c) => {
    const { id, keyId } = c.req.valid("param");
    if (!(await revokeKey(drizzle(c.env.DB), id, keyId))) throw fail("not-found", "no such key");
    await pushTenantPolicy(c.env, id);
    return c.body(null, 204);
  },
);

platformAdminRoutes.route("/tenants", tenantPolicyRoutes);

// ---- dead letters and parked facts -----------------------------------------------------------------

platformAdminRoutes.openapi(
  adminRoute({
    method: "get",
    path: "/dead-letters",
    operationId: "admin.deadLetters.list",
    summary: "facts the consumer gave up on, not yet replayed",
    tags: ["admin"],
    request: {
      query: z.object({
        // A tenant id, or UNKNOWN_TENANT for letters that named no valid tenant; anything else is
        // 400, as on /admin/sagas, rather than an empty list.
        tenant: z
          .union([tenantIdSchema, z.literal(UNKNOWN_TENANT)])
          .optional()
          .describe("a tenant id, or (unknown) for letters that named no valid tenant"),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(deadLetter) }), "the dead letters"), ...problems("admin", 400) },
  }),
  async (c) => {
    const db: Db = drizzle(c.env.DB);
    return c.json({ items: await listDeadLetters(db, c.req.valid("query").tenant ?? null, 200) }, 200);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "post",
    path: "/dead-letters/{id}/replay",
    operationId: "admin.deadLetters.replay",
    summary: "send a dead letter to the facts queue again",
    tags: ["admin"],
    request: { params: z.object({ id: z.string() }) },
    responses: { 202: json(z.object({ replayed: z.literal(true) }), "re-sent"), ...problems("admin", 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const replayed = await replayDeadLetter(drizzle(c.env.DB), c.env.FACTS, id, null);
    if (!replayed) throw fail("not-found", `no dead letter ${id}`);
    return c.json({ replayed: true as const }, 202);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "get",
    path: "/parked-facts",
    operationId: "admin.parkedFacts.list",
    summary: "facts too large for the queue, parked by their entity's relay and not yet acknowledged",
    description:
      "The consumer still applies a parked fact, reading it from its entity; the list is for the operator to act on its cause.",
    tags: ["admin"],
    request: { query: z.object({ tenant: tenantFilter }) },
    responses: { 200: json(z.object({ items: z.array(parkedFact) }), "the parked facts"), ...problems("admin", 400) },
  }),
  async (c) => {
    const db: Db = drizzle(c.env.DB);
    return c.json({ items: await listParkedFacts(db, c.req.valid("query").tenant ?? null, 200) }, 200);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "post",
    path: "/parked-facts/{id}/acknowledge",
    operationId: "admin.parkedFacts.acknowledge",
    summary: "take a parked fact (by event id) off the list once its cause is dealt with",
    tags: ["admin"],
    request: { params: z.object({ id: z.string() }) },
    responses: { 200: json(z.object({ acknowledged: z.literal(true) }), "acknowledged"), ...problems("admin", 404) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const found = await acknowledgeParkedFact(drizzle(c.env.DB), id, null);
    if (!found) throw fail("not-found", `no parked fact ${id}`);
    return c.json({ acknowledged: true as const }, 200);
  },
);

// ---- projections -------------------------------------------------------------------------------------

platformAdminRoutes.openapi(
  adminRoute({
    method: "get",
    path: "/projections",
    operationId: "admin.projections.list",
    summary: "projections with their lag (and rebuild status, for one tenant)",
    tags: ["admin"],
    request: { query: z.object({ tenant: tenantFilter }) },
    responses: {
      200: json(z.object({ items: z.array(anyObject) }), "the projections"),
      ...problems("admin", 400, 404),
    },
  }),
  async (c) => {
    const tenant = c.req.valid("query").tenant ?? null;
    const db: Db = drizzle(c.env.DB);
    // A typo must not read as "no lag" (nor wake a rebuilder for a tenant that does not exist).
    if (tenant !== null) await requireTenant(db, tenant);
    const items = await Promise.all(
      c.get("app").projections.map(async (p) => ({
        name: p.name,
        follows: p.follows,
        lag: await projectionLag(db, p, tenant),
        rebuild: tenant === null ? null : await rebuilderFor(c.env, p.name, tenant).status(),
      })),
    );
    return c.json({ items }, 200);
  },
);

platformAdminRoutes.openapi(
  adminRoute({
    method: "post",
    path: "/projections/{name}/rebuild",
    operationId: "admin.projections.rebuild",
    summary: "rebuild one projection for one tenant from the entities' logs",
    tags: ["admin"],
    request: {
      params: z.object({ name: projectionNameSchema.describe("the projection's name") }),
      query: z.object({ tenant: tenantIdSchema.describe("name the tenant to rebuild for: ?tenant=<id>") }),
    },
    responses: { 202: json(anyObject, "the rebuild started"), ...problems("admin", 400, 404, 409) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const { tenant } = c.req.valid("query");
    await requireTenant(drizzle(c.env.DB), tenant);
    const outcome = await rebuilderFor(c.env, name, tenant).start(name, tenant);
    if (!outcome) throw fail("not-found", `no projection ${name}`);
    if ("alreadyRunning" in outcome) {
      const running = outcome.alreadyRunning;
      throw fail(
        "rebuild-in-progress",
        `a rebuild of ${running.projection} for ${tenant} is ${running.phase === "clearing" ? "clearing the old rows" : "running"} (generation ${running.generation})`,
      );
    }
    return c.json(outcome.started, 202);
  },
);

/** The tenant `id` (whatever its status); throws 404 `not-found` when there is none. */
async function requireTenant(db: Db, id: string): Promise<typeof tenants.$inferSelect> {
  const tenant = await findTenant(db, id);
  if (!tenant) throw fail("not-found", `no tenant ${id}`);
  return tenant;
}

function rebuilderFor(env: Env, projection: string, tenant: string) {
  return rebuilderStub(env, projection, tenant);
}

function present(t: typeof tenants.$inferSelect) {
  return {
    id: t.id,
    name: t.name,
    status: t.status,
    createdAt: new Date(t.createdAt).toISOString(),
    ...presentPolicy(t),
  };
}

/**
 * The admin token check (`adminTokenRefusal`): the bearer token, read as the tenant API reads a key
 * (bearer-token.ts), is compared in constant time and counted in the per-client failure limit; a
 * request without one is 401 and not counted (nothing was guessed). A client over the failure
 * limit is answered 429 `auth-failures-limited` with Retry-After, whatever token it sends (even the
 * right one). Hono's `bearerAuth` is not used: its stricter reading of the header (no tab after the
 * scheme, no trailing whitespace) made the two APIs refuse different spellings of one header.
 */
function adminAuth(): MiddlewareHandler<PlatformEnv> {
  return async (c, next) => {
    const refused = await adminTokenRefusal(c.req.raw, c.env.ADMIN_TOKEN, c.env.AUTH_FAILURES);
    if (refused) return refused;
    await next();
  };
}
