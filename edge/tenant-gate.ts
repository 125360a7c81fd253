// The gate of one tenant: a Durable Object every /v1 request of that tenant passes through. It is
// the authority for suspension and key revocation (so they bite at once, in every isolate) and
// holds the fair-use token bucket (so the limit is one limit, not one per isolate). The policy is
// pushed by the admin API on every change and persisted here; a gate that has never been told
// reads it once from D1 (tenants seeded outside the admin API).
import { DurableObject } from "cloudflare:workers";
import type { Admission, TenantGateRpc, TenantPolicy } from "../src/core/tenant-policy.js";
import { fullBucket, takeToken, type Bucket } from "../src/core/token-bucket.js";

const POLICY_KEY = "policy";

export class TenantGate extends DurableObject<Env> implements TenantGateRpc {
  #policy: TenantPolicy | null | undefined;
  #revoked = new Set<string>();
  // The bucket lives in memory only: losing it on eviction refills it, which errs on the side of
  // admitting and costs no storage write per request.
  #bucket: Bucket | undefined;

  async admit(tenant: string, keyId: string): Promise<Admission> {
    const policy = await this.#load(tenant);
    if (!policy) return { admitted: false, reason: "unknown-tenant" };
    if (this.#revoked.has(keyId)) return { admitted: false, reason: "revoked" };
    if (policy.status !== "active") return { admitted: false, reason: "suspended" };
    if (policy.rateLimit) {
      const now = Date.now();
      const taken = takeToken(this.#bucket ?? fullBucket(policy.rateLimit.burst, now), policy.rateLimit, now);
      this.#bucket = taken.bucket;
      if (!taken.ok) return { admitted: false, reason: "rate-limited", retryAfter: taken.retryAfter };
    }
    return { admitted: true, corsOrigins: policy.corsOrigins };
  }

  async standing(tenant: string, keyId: string | null): Promise<"ok" | "revoked" | "suspended"> {
    const policy = await this.#load(tenant);
    // A tenant that no longer exists has nothing left to stream.
    if (!policy) return "suspended";
    if (keyId !== null && this.#revoked.has(keyId)) return "revoked";
    return policy.status === "active" ? "ok" : "suspended";
  }

  async configure(_tenant: string, policy: TenantPolicy): Promise<void> {
    const before = this.#policy;
    await this.ctx.storage.put(POLICY_KEY, policy);
    this.#use(policy);
    const limitChanged = JSON.stringify(before?.rateLimit ?? null) !== JSON.stringify(policy.rateLimit);
    if (limitChanged) this.#bucket = undefined;
  }

  async #load(tenant: string): Promise<TenantPolicy | null> {
    if (this.#policy !== undefined) return this.#policy;
    const stored = await this.ctx.storage.get<TenantPolicy>(POLICY_KEY);
    if (this.#policy !== undefined) return this.#policy; // configured while we awaited
    if (stored) {
      this.#use(stored);
      return stored;
    }
    const fromD1 = await readPolicy(this.env.DB, tenant);
    if (this.#policy !== undefined) return this.#policy;
    if (fromD1) this.#use(fromD1);
    return fromD1;
  }

  #use(policy: TenantPolicy): void {
    this.#policy = policy;
    this.#revoked = new Set(policy.revokedKeys);
  }
}

async function readPolicy(db: D1Database, tenant: string): Promise<TenantPolicy | null> {
  const [tenantRows, keyRows] = await db.batch([
    db.prepare("SELECT status, rate_limit_rps AS rps, rate_limit_burst AS burst, cors_origins AS origins FROM tenants WHERE id = ?").bind(tenant),
    db.prepare("SELECT id FROM api_keys WHERE tenant_id = ? AND revoked_at IS NOT NULL").bind(tenant),
  ]);
  const row = tenantRows?.results[0] as { status: string; rps: number | null; burst: number | null; origins: string } | undefined;
  if (!row) return null;
  const origins = JSON.parse(row.origins) as unknown;
  return {
    status: row.status === "active" ? "active" : "suspended",
    rateLimit: row.rps !== null && row.burst !== null ? { requestsPerSecond: row.rps, burst: row.burst } : null,
    corsOrigins: Array.isArray(origins) ? origins.filter((o): o is string => typeof o === "string") : [],
    revokedKeys: (keyRows?.results ?? []).map((r) => String((r as { id: unknown }).id)),
  };
}
