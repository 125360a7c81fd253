// Admin routes for a tenant's policy: its fair-use rate limit and its CORS origins. Every change
// to a tenant's policy (these, suspend/resume, key revocation) is written to D1, dropped from
// this isolate's admission cache, and pushed whole to the tenant's gate object (live streams'
// standing checks); other isolates see it within TENANT_ADMISSION_MAX_STALE_MS.
import { and, eq, isNotNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono, type Context } from "hono";
import { fieldErrors } from "../../src/core/model/entity.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import { readJsonBody } from "../../src/core/http/request-body.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { faultPoint } from "../../src/core/resilience/fault-injection.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { forgetTenantAdmission } from "../../src/core/security/tenant-admission.js";
import { corsPolicySchema, policyFromRow, rateLimitSchema } from "../../src/core/security/tenant-policy.js";
import type { z } from "zod";
import type { Db } from "../../src/core/model/projection.js";
import { apiKeys, tenants } from "../schema.js";
import { nextPolicyVersion } from "./tenant-admin.js";
import { tenantGateStub } from "../stubs.js";

type AdminEnv = { Bindings: Env; Variables: RequestScope };

export const tenantPolicyRoutes = new Hono<AdminEnv>();

tenantPolicyRoutes.put("/:id/rate-limit", async (c) => {
  const body = await parseBody(c, rateLimitSchema, "the rate limit is invalid");
  if (body instanceof Response) return body;
  return update(c, { rateLimitRps: body.requestsPerSecond, rateLimitBurst: body.burst });
});

tenantPolicyRoutes.delete("/:id/rate-limit", (c) => update(c, { rateLimitRps: null, rateLimitBurst: null }));

tenantPolicyRoutes.put("/:id/cors", async (c) => {
  const body = await parseBody(c, corsPolicySchema, "the CORS policy is invalid");
  if (body instanceof Response) return body;
  return update(c, { corsOrigins: [...new Set(body.origins)] });
});

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
    db.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), isNotNull(apiKeys.revokedAt))),
  ]);
  const t = rows[0];
  if (!t) return false;
  const policy = policyFromRow(t, revoked.map((k) => k.id));
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      faultPoint("tenant.push", { tenant: tenantId });
      // A fresh stub per attempt: a stub that threw may be broken.
      const gate = tenantGateStub(env, tenantId);
      await gate.configure(tenantId, policy);
      return true;
    } catch (error) {
      logEvent("warn", "tenant policy push failed; the gate re-reads D1 within its bound", { tenant: tenantId, attempt, error: String(error) });
    }
  }
  return true;
}

/** The policy fields of a tenant as the admin API shows them. */
export function presentPolicy(t: typeof tenants.$inferSelect) {
  return {
    rateLimit: t.rateLimitRps !== null && t.rateLimitBurst !== null ? { requestsPerSecond: t.rateLimitRps, burst: t.rateLimitBurst } : null,
    corsOrigins: t.corsOrigins,
  };
}

async function update(c: Context<AdminEnv>, set: Partial<typeof tenants.$inferInsert>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const db: Db = drizzle(c.env.DB);
  const updated = (await db.update(tenants).set({ ...set, ...nextPolicyVersion }).where(eq(tenants.id, id)).returning())[0];
  if (!updated) return problemResponse(problem("not-found", `no tenant ${id}`));
  await pushTenantPolicy(c.env, id);
  return c.json({ id: updated.id, status: updated.status, ...presentPolicy(updated) });
}

async function parseBody<S extends z.ZodType>(c: Context<AdminEnv>, schema: S, title: string): Promise<z.output<S> | Response> {
  const body = await readJsonBody(c.req.raw);
  if (!body.ok) return problemResponse(body.problem);
  const parsed = schema.safeParse(body.value);
  if (!parsed.success) return problemResponse(problem("validation-failed", title, { errors: fieldErrors(parsed.error) }));
  return parsed.data;
}
