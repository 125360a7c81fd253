// The tenant's rate limit on the dashboard. A tenant admin's request that makes the tenant's
// objects or queues work — a saga retried or compensated, a dead letter replayed, a projection
// rebuilt, an entity looked up, a live panel or an entity's log opened — is admitted as the
// tenant's /v1 requests are: it spends one token of the tenant's one bucket (its gate's) from this
// isolate's leases, which the tenant API's admission spends from too
// (src/core/security/rate-limit-leases.ts). Over the limit it is answered 429 `rate-limited` with
// Retry-After: a page for a browser, problem+json for a stream. Not charged: the dashboard's own
// pages (D1 rows) and the keys, so a tenant whose clients spent its limit still sees what happens
// and can revoke a key; and the operator, whose actions are the admin API's, charged to no tenant.
import { problem, problemResponse } from "../../src/core/http/problem.js";
import { isolateRateLimitLeases, RATE_LIMITED_DETAIL } from "../../src/core/security/rate-limit-leases.js";
import { rateLimitFromColumns } from "../../src/core/security/tenant-policy.js";
import { tenantGateStub } from "../stubs.js";
import type { Ctx } from "./context.js";
import type { TenantRow } from "./data.js";

/**
 * Spends one request of `tenant`'s rate limit (its row as this request read it) for a tenant
 * admin's work; undefined when admitted or not charged, else the 429 answer, with Retry-After (s).
 */
export async function refusedOverLimit(c: Ctx, tenant: TenantRow): Promise<Response | undefined> {
  if (c.get("session").role !== "tenant") return undefined;
  const limit = rateLimitFromColumns(tenant.rateLimitRps, tenant.rateLimitBurst);
  if (limit === null) return undefined;
  const retryAfter = await isolateRateLimitLeases.spend(tenant.id, limit, Date.now(), {
    now: () => Date.now(),
    lease: (id, under, want) => tenantGateStub(c.env, id).lease(id, under, want),
  });
  if (retryAfter === undefined) return undefined;
  if (!(c.req.header("accept") ?? "").includes("text/html"))
    return problemResponse(problem("rate-limited", RATE_LIMITED_DETAIL, { retryAfter }));
  c.status(429);
  c.header("retry-after", String(retryAfter));
  return c.render(
    <p class="card error" role="alert">
      {tenant.name} is over its rate limit, which its API requests and this dashboard's actions share. Nothing was done;
      try again in {retryAfter} s.
    </p>,
    { title: "Over the rate limit", tenant: tenant.id },
  );
}
