// The admin API (`Authorization: Bearer <ADMIN_TOKEN>`): tenants and their keys, metrics, dead letters.
import { count, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { sameSecret } from "../../src/core/security/same-secret.js";
import { fieldErrors } from "../../src/core/model/entity.js";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import { readJsonBody } from "../../src/core/http/request-body.js";
import { listDeadLetters, replayDeadLetter, UNKNOWN_TENANT } from "../consumer/dead-letters.js";
import { acknowledgeParkedFact, listParkedFacts } from "../consumer/parked-facts.js";
import type { Db } from "../../src/core/model/projection.js";
import { projectionLag } from "../projections/projection-lag.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { servingApp, type CloudApp, type CloudEnv } from "../app.js";
import { sagaAdminRoutes } from "../sagas/saga-admin-routes.js";
import { apiKeys, deadLetters, tenants } from "../schema.js";
import { createTenant, issueKey, revokeKey, setTenantStatus } from "./tenant-admin.js";
import { presentPolicy, pushTenantPolicy, tenantPolicyRoutes } from "./tenant-policy-routes.js";
import { readTenantMetrics } from "../metrics/tenant-metrics.js";
import { rebuilderStub } from "../stubs.js";

type AdminEnv = CloudEnv;

export const createTenantSchema = z.object({ id: tenantIdSchema, name: z.string().trim().min(1).max(200) }).strict();

/**
 * The admin API for `app` (mounted at `/admin`), with `extra` routes of the app's own (e.g. an
 * integration's controls) behind the same admin token.
 */
export function adminRoutes(app: CloudApp, extra: readonly Hono<{ Bindings: Env; Variables: RequestScope }>[] = []): Hono<AdminEnv> {
  const mounted = new Hono<AdminEnv>();
  mounted.use("*", adminAuth());
  for (const routes of extra) mounted.route("/", routes);
  mounted.route("/", servingApp(app, platformAdminRoutes));
  return mounted;
}

const platformAdminRoutes = new Hono<AdminEnv>();
platformAdminRoutes.route("/", sagaAdminRoutes);

platformAdminRoutes.post("/tenants", async (c) => {
  const body = await readJsonBody(c.req.raw);
  if (!body.ok) return problemResponse(body.problem);
  const parsed = createTenantSchema.safeParse(body.value);
  if (!parsed.success) {
    return problemResponse(problem("validation-failed", "the tenant is invalid", { errors: fieldErrors(parsed.error) }));
  }
  const created = await createTenant(drizzle(c.env.DB), parsed.data.id, parsed.data.name);
  if (!created.ok) return problemResponse(problem("conflict", `tenant ${parsed.data.id} already exists`));
  return c.json({ tenant: present(created.tenant), apiKey: created.apiKey, keyId: created.keyId }, 201);
});

platformAdminRoutes.get("/tenants", async (c) => {
  const db: Db = drizzle(c.env.DB);
  const rows = await db.select().from(tenants).orderBy(desc(tenants.createdAt));
  return c.json({ items: rows.map(present) });
});

platformAdminRoutes.get("/tenants/:id", async (c) => {
  const db: Db = drizzle(c.env.DB);
  const tenant = (await db.select().from(tenants).where(eq(tenants.id, c.req.param("id"))).limit(1))[0];
  if (!tenant) return problemResponse(problem("not-found", `no tenant ${c.req.param("id")}`));
  const [keys, letters] = await db.batch([
    db
      .select({ keyId: apiKeys.id, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt, lastUsedAt: apiKeys.lastUsedAt })
      .from(apiKeys)
      .where(eq(apiKeys.tenantId, tenant.id)),
    db.select({ n: count() }).from(deadLetters).where(eq(deadLetters.tenantId, tenant.id)),
  ]);
  return c.json({ ...present(tenant), keys, stats: { deadLetters: letters[0]?.n ?? 0 } });
});

for (const [action, status] of [["suspend", "suspended"], ["resume", "active"]] as const) {
  platformAdminRoutes.post(`/tenants/:id/${action}`, async (c) => {
    const tenant = await setTenantStatus(drizzle(c.env.DB), c.req.param("id"), status);
    if (!tenant) return problemResponse(problem("not-found", `no tenant ${c.req.param("id")}`));
    await pushTenantPolicy(c.env, tenant.id);
    return c.json(present(tenant));
  });
}

platformAdminRoutes.get("/tenants/:id/metrics", async (c) => {
  const minutes = c.req.query("minutes") ?? "60";
  if (!/^\d{1,4}$/.test(minutes) || Number(minutes) < 1 || Number(minutes) > 1440) {
    return problemResponse(problem("malformed-request", "minutes must be between 1 and 1440"));
  }
  const db: Db = drizzle(c.env.DB);
  const tenant = (await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, c.req.param("id"))).limit(1))[0];
  if (!tenant) return problemResponse(problem("not-found", `no tenant ${c.req.param("id")}`));
  return c.json(await readTenantMetrics(db, tenant.id, Number(minutes)));
});

platformAdminRoutes.post("/tenants/:id/keys", async (c) => {
  const db: Db = drizzle(c.env.DB);
  const tenant = (await db.select().from(tenants).where(eq(tenants.id, c.req.param("id"))).limit(1))[0];
  if (!tenant) return problemResponse(problem("not-found", `no tenant ${c.req.param("id")}`));
  return c.json(await issueKey(db, tenant.id), 201);
});

platformAdminRoutes.delete("/tenants/:id/keys/:keyId", async (c) => {
  const tenant = c.req.param("id");
  if (!(await revokeKey(drizzle(c.env.DB), tenant, c.req.param("keyId")))) return problemResponse(problem("not-found", "no such key"));
  await pushTenantPolicy(c.env, tenant);
  return c.body(null, 204);
});

platformAdminRoutes.route("/tenants", tenantPolicyRoutes);

platformAdminRoutes.get("/dead-letters", async (c) => {
  const db: Db = drizzle(c.env.DB);
  // A tenant id, or UNKNOWN_TENANT for letters that named no valid tenant; anything else is 400,
  // as on /admin/sagas, rather than an empty list.
  const requested = c.req.query("tenant");
  const tenant = requested === UNKNOWN_TENANT ? UNKNOWN_TENANT : tenantQuery(requested);
  if (tenant instanceof Response) return tenant;
  return c.json({ items: await listDeadLetters(db, tenant, 200) });
});

platformAdminRoutes.post("/dead-letters/:id/replay", async (c) => {
  const db: Db = drizzle(c.env.DB);
  const replayed = await replayDeadLetter(db, c.env.FACTS, c.req.param("id"), null);
  if (!replayed) return problemResponse(problem("not-found", `no dead letter ${c.req.param("id")}`));
  return c.json({ replayed: true }, 202);
});

platformAdminRoutes.get("/parked-facts", async (c) => {
  const db: Db = drizzle(c.env.DB);
  return c.json({ items: await listParkedFacts(db, c.req.query("tenant") ?? null, 200) });
});

platformAdminRoutes.post("/parked-facts/:id/acknowledge", async (c) => {
  const db: Db = drizzle(c.env.DB);
  const found = await acknowledgeParkedFact(db, c.req.param("id"), null);
  if (!found) return problemResponse(problem("not-found", `no parked fact ${c.req.param("id")}`));
  return c.json({ acknowledged: true });
});

platformAdminRoutes.get("/projections", async (c) => {
  const tenant = tenantQuery(c.req.query("tenant"));
  if (tenant instanceof Response) return tenant;
  const db: Db = drizzle(c.env.DB);
  const items = await Promise.all(
    c.var.app.projections.map(async (p) => ({
      name: p.name,
      follows: p.follows,
      lag: await projectionLag(db, p, tenant),
      rebuild: tenant === null ? null : await rebuilderFor(c.env, p.name, tenant).status(),
    })),
  );
  return c.json({ items });
});

platformAdminRoutes.post("/projections/:name/rebuild", async (c) => {
  const tenant = c.req.query("tenant");
  if (!tenant || !tenantIdSchema.safeParse(tenant).success) {
    return problemResponse(problem("validation-failed", "name the tenant to rebuild for: ?tenant=<id>", { errors: [{ path: "tenant", message: "required" }] }));
  }
  const db: Db = drizzle(c.env.DB);
  if (!(await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenant)).limit(1))[0]) {
    return problemResponse(problem("not-found", `no tenant ${tenant}`));
  }
  const outcome = await rebuilderFor(c.env, c.req.param("name"), tenant).start(c.req.param("name"), tenant);
  if (!outcome) return problemResponse(problem("not-found", `no projection ${c.req.param("name")}`));
  if ("alreadyRunning" in outcome) {
    const running = outcome.alreadyRunning;
    return problemResponse(
      problem("rebuild-in-progress", `a rebuild of ${running.projection} for ${tenant} is ${running.phase === "clearing" ? "clearing the old rows" : "running"} (generation ${running.generation})`),
    );
  }
  return c.json(outcome.started, 202);
});

function rebuilderFor(env: Env, projection: string, tenant: string) {
  return rebuilderStub(env, projection, tenant);
}

/** An optional `?tenant=` filter: null when absent, a 400 problem when it is no tenant id. */
function tenantQuery(value: string | undefined): string | null | Response {
  if (value === undefined) return null;
  if (tenantIdSchema.safeParse(value).success) return value;
  return problemResponse(problem("validation-failed", "tenant must be a tenant id", { errors: [{ path: "tenant", message: "not a tenant id" }] }));
}

function present(t: typeof tenants.$inferSelect) {
  return { id: t.id, name: t.name, status: t.status, createdAt: new Date(t.createdAt).toISOString(), ...presentPolicy(t) };
}

function adminAuth(): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const expected = c.env.ADMIN_TOKEN;
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!expected || !presented || !(await sameSecret(presented, expected))) {
      return problemResponse(problem("unauthorized", "send Authorization: Bearer <ADMIN_TOKEN>"), {
        "www-authenticate": 'Bearer realm="factline-admin"',
      });
    }
    await next();
  };
}
