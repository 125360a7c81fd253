// Admission scales with the entities: no request of a tenant calls a per-tenant object just to be
// admitted. Each isolate decides from its own copy of the key and its tenant's policy, read from
// D1 and trusted for TENANT_ADMISSION_MAX_STALE_MS (400 ms in tests); so a change written to D1
// by another isolate (simulated here by writing D1 directly, which this isolate does not hear of)
// bites once that bound has passed. A configured rate limit is one bucket in the tenant's gate,
// leased to isolates in batches.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gateLeaseCount } from "../edge/tenancy/tenant-auth.js";
import { armFault } from "../src/core/resilience/fault-injection.js";
import {
  admissionGeneration,
  forgetTenantAdmission,
  freshness,
  type CachedStanding,
} from "../src/core/security/tenant-admission.js";
import { fullBucket, leaseSize, takeTokens } from "../src/core/resilience/token-bucket.js";
import { admin } from "./support/admin.js";
import { newTenant, tenantClient } from "./support/api.js";

const PROBLEMS = "https://factline.dev/problems/";
const MAX_STALE_MS = Number(env.TENANT_ADMISSION_MAX_STALE_MS);

/** Sets a tenant's rate limit in D1 behind the admin API's back, as another isolate's write. */
async function writeRateLimit(tenant: string, rps: number, burst: number): Promise<void> {
  await env.DB.prepare(
    "UPDATE tenants SET rate_limit_rps = ?, rate_limit_burst = ?, policy_version = policy_version + 1 WHERE id = ?",
  )
    .bind(rps, burst, tenant)
    .run();
}

/** Waits out the staleness bound, so every isolate copy read before now has lapsed. */
function waitTheBound(): Promise<void> {
  return new Promise((r) => setTimeout(r, MAX_STALE_MS + 50));
}

describe("admission without a per-request hop", () => {
  it("admits a tenant without a rate limit with no call to its gate", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    const before = gateLeaseCount.value;
    for (let i = 0; i < 20; i++) expect((await api.get("/v1/views/inventory")).status).toBe(200);
    expect(gateLeaseCount.value).toBe(before);
  });

  it("leases a limited tenant's tokens in batches: far fewer gate calls than requests", async () => {
    const tenant = await newTenant();
    await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond: 1000, burst: 1000 });
    const api = tenantClient(tenant.apiKey);
    const before = gateLeaseCount.value;
    for (let i = 0; i < 100; i++) expect((await api.get("/v1/views/inventory")).status).toBe(200);
    // A lease is 100 tokens at 1,000/s and lapses after 1 s: a few calls, never one per request.
    expect(gateLeaseCount.value - before).toBeLessThanOrEqual(10);
  });

  it("never admits more than the burst, even when requests race for tokens", async () => {
    const tenant = await newTenant();
    await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond: 0.01, burst: 5 });
    const api = tenantClient(tenant.apiKey);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => (await api.get("/v1/views/inventory")).status),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });
});

describe("a known key", () => {
  it("is refused with another secret after its right secret was accepted and remembered", async () => {
    const tenant = await newTenant();
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
    // The same key id, its secret's last character changed.
    const forged = `${tenant.apiKey.slice(0, -1)}${tenant.apiKey.endsWith("A") ? "B" : "A"}`;
    const refused = await tenantClient(forged).get("/v1/views/inventory");
    expect(refused.status).toBe(401);
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
  });
});

describe("when D1 cannot be read", () => {
  it("answers 503 with Retry-After when D1 cannot be read and no copy is within the bound", async () => {
    const tenant = await newTenant();
    const disarm = armFault("tenant.lookup", () => {
      throw new Error("D1 unreachable");
    });
    let refused: Response;
    try {
      refused = await tenantClient(tenant.apiKey).get("/v1/views/inventory");
    } finally {
      disarm();
    }
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ type: `${PROBLEMS}dependency-unavailable` });
    expect((await tenantClient(tenant.apiKey).get("/v1/views/inventory")).status).toBe(200);
  });
});

describe("changes made by another isolate", () => {
  it("suspend a tenant everywhere once the staleness bound has passed", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    await env.DB.prepare("UPDATE tenants SET status = 'suspended', policy_version = policy_version + 1 WHERE id = ?")
      .bind(tenant.id)
      .run();
    await waitTheBound();
    const refused = await api.command("inventory", "sku-1", "restock", { quantity: 1 });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ type: `${PROBLEMS}tenant-suspended` });
  });

  it("revoke a key everywhere once the staleness bound has passed", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ?").bind(Date.now(), tenant.id).run();
    await waitTheBound();
    const refused = await api.get("/v1/views/inventory");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ type: `${PROBLEMS}unauthorized` });
  });

  it("impose a new rate limit everywhere once the staleness bound has passed", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    await writeRateLimit(tenant.id, 0.01, 1);
    await waitTheBound();
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    const refused = await api.get("/v1/views/inventory");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});

describe("an isolate's copy of a key's standing", () => {
  const copy = (fetchedAt: number, generation = admissionGeneration()): CachedStanding => ({
    fetchedAt,
    generation,
    standing: {
      tenant: `copy-${crypto.randomUUID()}`,
      hash: "h",
      revoked: false,
      lastUsedAt: null,
      tenantKnown: true,
      policyVersion: 0,
      status: "active",
      rateLimit: null,
      corsOrigins: [],
    },
  });

  it("serves as is for half the bound, then serves while it is refreshed behind, then is read afresh", () => {
    const c = copy(10_000);
    expect(freshness(c, 10_000 + 499, 1_000)).toBe("fresh");
    expect(freshness(c, 10_000 + 500, 1_000)).toBe("refresh-behind");
    expect(freshness(c, 10_000 + 1_000, 1_000)).toBe("expired");
  });

  it("is dropped at once when this isolate changes its tenant, even mid-read", () => {
    const c = copy(Date.now());
    forgetTenantAdmission(c.standing.tenant);
    expect(freshness(c, Date.now(), 60_000)).toBe("expired");
    // A copy whose read started after the change is good.
    expect(freshness({ ...c, generation: admissionGeneration() }, Date.now(), 60_000)).toBe("fresh");
  });
});

describe("a rate limit", () => {
  it("is refused below one request per 1,000 s, where a refusal would name hours to wait", async () => {
    const tenant = await newTenant();
    for (const requestsPerSecond of [1e-21, 0.0009, 0]) {
      const set = await admin("PUT", `/tenants/${tenant.id}/rate-limit`, { requestsPerSecond, burst: 1 });
      expect(set.status).toBe(400);
      expect(await set.json()).toMatchObject({ type: `${PROBLEMS}validation-failed` });
    }
  });

  it("stored below that floor still answers a Retry-After of whole seconds, at most a day", async () => {
    const tenant = await newTenant();
    const api = tenantClient(tenant.apiKey);
    // As a row written before the floor existed: the wait it implies is 10^21 s.
    await writeRateLimit(tenant.id, 1e-21, 1);
    await waitTheBound();
    expect((await api.get("/v1/views/inventory")).status).toBe(200);
    const refused = await api.get("/v1/views/inventory");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("86400");
  });
});

describe("rate-limit leases", () => {
  it("grant only whole tokens the bucket holds", () => {
    const limit = { requestsPerSecond: 10, burst: 5 };
    const first = takeTokens(fullBucket(5, 0), limit, 3, 0);
    expect(first.granted).toBe(3);
    const second = takeTokens(first.bucket, limit, 3, 0);
    expect(second.granted).toBe(2);
    const none = takeTokens(second.bucket, limit, 3, 0);
    expect(none.granted).toBe(0);
    expect(none.retryAfter).toBeGreaterThanOrEqual(1);
    expect(takeTokens(none.bucket, limit, 3, 150).granted).toBe(1);
  });

  it("are a tenth of a second's refill, at least one token and at most the burst", () => {
    expect(leaseSize({ requestsPerSecond: 0.01, burst: 3 })).toBe(1);
    expect(leaseSize({ requestsPerSecond: 1000, burst: 1000 })).toBe(100);
    expect(leaseSize({ requestsPerSecond: 1000, burst: 20 })).toBe(20);
  });
});
