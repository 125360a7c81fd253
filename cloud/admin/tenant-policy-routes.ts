// Admin routes for a tenant's policy: its fair-use rate limit and its CORS origins. Every change
// to a tenant's policy (these, suspend/resume, key revocation) is written to D1, dropped from
// this isolate's admission cache, and pushed whole to the tenant's gate object (live streams'
// standing checks); other isolates see it within TENANT_ADMISSION_MAX_STALE_MS.
import { createRoute } from "@hono/zod-openapi";
import { and, eq, isNotNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { z } from "zod";
import { json, jsonBody, problems, routeTable, security } from "../../src/core/http/openapi.js";
import { fail } from "../../src/core/http/problem.js";
import { strictJsonBody } from "../../src/core/http/json-body.js";
import { faultPoint } from "../../src/core/resilience/fault-injection.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { forgetTenantAdmission } from "../../src/core/security/tenant-admission.js";
import { corsPolicySchema, policyFromRow, rateLimitSchema } from "../../src/core/security/tenant-policy.js";
import type { Db } from "../../src/core/model/projection.js";
import type { CloudEnv } from "../app.js";
import { apiKeys, tenants } from "../schema.js";
import { nextPolicyVersion } from "./tenant-admin.js";
import { tenantGateStub } from "../stubs.js";

type AdminEnv = CloudEnv;

/** A tenant as the admin API shows it. */
export const tenantShape = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(["active", "suspended"]),
  createdAt: z.string(),
  rateLimit: rateLimitSchema.nullable(),
  corsOrigins: z.array(z.string()),
});
const policy = tenantShape.pick({ id: true, status: true, rateLimit: true, corsOrigins: true });
const tenantParam = z.object({ id: z.string().describe("the tenant's id") });

/** `PUT`/`DELETE /{id}/rate-limit`, `PUT /{id}/cors` (mounted at `/admin/tenants`). */
export const tenantPolicyRoutes = routeTable<AdminEnv>();

tenantPolicyRoutes.openapi(
  createRoute({
    method: "put",
    path: "/{id}/rate-limit",
    operationId: "admin.tenants.setRateLimit",
    summary: "set the tenant's fair-use limit: a token bucket shared by all its keys and isolates",
    tags: ["admin"],
    security: security("admin"),
    middleware: [strictJsonBody()] as const,
    request: { params: tenantParam, body: jsonBody(rateLimitSchema) },
    responses: { 200: json(policy, "the tenant's policy"), ...problems("admin", 400, 404, 413, 415) },
  }),
  async (c) => {
    const body = c.req.valid("json");
    return c.json(
      await update(c, c.req.valid("param").id, { rateLimitRps: body.requestsPerSecond, rateLimitBurst: body.burst }),
      200,
    );
  },
);

tenantPolicyRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/{id}/rate-limit",
    operationId: "admin.tenants.clearRateLimit",
    summary: "lift the tenant's rate limit",
    tags: ["admin"],
    security: security("admin"),
    request: { params: tenantParam },
    responses: { 200: json(policy, "the tenant's policy"), ...problems("admin", 404) },
  }),
  async (c) => c.json(await update(c, c.req.valid("param").id, { rateLimitRps: null, rateLimitBurst: null }), 200),
);

tenantPolicyRoutes.openapi(
  createRoute({
    method: "put",
    path: "/{id}/cors",
    operationId: "admin.tenants.setCors",
    summary: "set the browser origins allowed to call the tenant API",
    tags: ["admin"],
    security: security("admin"),
    middleware: [strictJsonBody()] as const,
    request: { params: tenantParam, body: jsonBody(corsPolicySchema) },
    responses: { 200: json(policy, "the tenant's policy"), ...problems("admin", 400, 404, 413, 415) },
  }),
  async (c) =>
    c.json(await update(c, c.req.valid("param").id, { corsOrigins: [...new Set(c.req.valid("json").origins)] }), 200),
);

/**
 * Reads the tenant's whole policy (with its version) from D1 and hands it to its gate; false if
 * no such tenant. Best effort by design: D1 is the record, and a gate that misses a push re-reads
 * it within TENANT_POLICY_MAX_AGE_MS, so a failed push is logged, retried once, and not an error.
 */
export async function pushTenantPolicy(env: Env, tenantId: string): Promise<boolean> {
  // This isolate's admission copies go at once; other isolates' lapse within their bound.
  forgetTenantAdmission(tenantId);
  const db: Db = drizzle(env.DB);
  const [rows, revoked] = await db.batch([
    db.select().from(tenants).where(eq(tenants.id, tenantId)).limit(1),
    db
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenantId), isNotNull(apiKeys.revokedAt))),
  ]);
  const t = rows[0];
  if (!t) return false;
  const policy = policyFromRow(
    t,
    revoked.map((k) => k.id),
  );
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      faultPoint("tenant.push", { tenant: tenantId });
      // A fresh stub per attempt: a stub that threw may be broken.
      const gate = tenantGateStub(env, tenantId);
      await gate.configure(tenantId, policy);
      return true;
    } catch (error) {
      logEvent("warn", "tenant policy push failed; the gate re-reads D1 within its bound", {
        tenant: tenantId,
        attempt,
        error: String(error),
      });
    }
  }
  return true;
}

/** The policy fields of a tenant as the admin API shows them. */
export function presentPolicy(t: typeof tenants.$inferSelect) {
  return {
    rateLimit:
      t.rateLimitRps !== null && t.rateLimitBurst !== null
        ? { requestsPerSecond: t.rateLimitRps, burst: t.rateLimitBurst }
        : null,
    corsOrigins: t.corsOrigins,
  };
}

/** Writes `set` to tenant `id`'s policy and pushes it; throws not-found for no such tenant. */
async function update(c: Context<AdminEnv>, id: string, set: Partial<typeof tenants.$inferInsert>) {
  const db: Db = drizzle(c.env.DB);
  const updated = (
    await db
      .update(tenants)
      .set({ ...set, ...nextPolicyVersion })
      .where(eq(tenants.id, id))
      .returning()
  )[0];
  if (!updated) throw fail("not-found", `no tenant ${id}`);
  await pushTenantPolicy(c.env, id);
  return { id: updated.id, status: updated.status, ...presentPolicy(updated) };
}
