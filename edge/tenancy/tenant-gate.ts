// The gate of one tenant: a Durable Object that no request passes on its own. It holds the
// tenant's fair-use token bucket (one limit, not one per isolate), from which isolates lease
// tokens a batch at a time (src/core/resilience/token-bucket.ts: one call per ~100 requests at 1,000/s, none
// for a tenant without a limit), and answers live streams' periodic standing checks.
// Admission itself is decided in each isolate from D1 (src/core/security/tenant-admission.ts).
//
// D1 is the record of the policy; the admin API pushes every change here, each carrying the
// tenant's `policy_version`, and the gate keeps only the newest version it has seen, so pushes
// that cross apply in the order of their D1 writes. A push can still fail (the gate unreachable,
// the admin Worker dying after its D1 write): so the gate also re-reads the policy from D1 once
// its copy is older than TENANT_POLICY_MAX_AGE_MS, which bounds how long a lost push is missed.
import { DurableObject } from "cloudflare:workers";
import { hostConfig } from "../../src/core/runtime/config.js";
import { logEvent } from "../../src/core/runtime/log.js";
import {
  policyFromRow,
  type TenantGateRpc,
  type TenantPolicy,
  type TenantPolicyRow,
} from "../../src/core/security/tenant-policy.js";
import { LimitBuckets, type Limit } from "../../src/core/resilience/token-bucket.js";

const POLICY_KEY = "policy";
// After a failed D1 read the old policy serves this long before the next attempt.
const REFRESH_RETRY_MS = 1_000;

export class TenantGate extends DurableObject<Env> implements TenantGateRpc {
  #policy: TenantPolicy | null | undefined;
  #revoked = new Set<string>();
  /** When the policy held was last known current (pushed, or read from D1), ms. */
  #checkedAt = 0;
  #refreshing: Promise<TenantPolicy | null> | undefined;
  // The bucket lives in memory only: losing it on eviction refills it, which errs on the side of
  // admitting and costs no storage write per lease. A new limit starts a full bucket of its own.
  readonly #buckets = new LimitBuckets();

  async lease(_tenant: string, limit: Limit, want: number): Promise<{ granted: number; retryAfter: number }> {
    return this.#buckets.lease(limit, want, Date.now());
  }

  async standing(tenant: string, keyId: string): Promise<"ok" | "revoked" | "suspended"> {
    const policy = await this.#current(tenant);
    // A tenant that no longer exists has nothing left to stream.
    if (!policy) return "suspended";
    if (this.#revoked.has(keyId)) return "revoked";
    return policy.status === "active" ? "ok" : "suspended";
  }

  async configure(_tenant: string, policy: TenantPolicy): Promise<number> {
    await this.#restore();
    await this.#apply(policy);
    return this.#policy?.version ?? policy.version;
  }

  /** The policy, re-read from D1 when the copy held is older than the bound. */
  async #current(tenant: string): Promise<TenantPolicy | null> {
    await this.#restore();
    const maxAge = hostConfig(this.env, "tenant-gate").tenantPolicyMaxAgeMs;
    if (this.#policy !== undefined && Date.now() - this.#checkedAt < maxAge) return this.#policy;
    // One read serves every request that found the copy stale meanwhile.
    this.#refreshing ??= this.#refresh(tenant).finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(tenant: string): Promise<TenantPolicy | null> {
    let fromD1: TenantPolicy | null;
    try {
      fromD1 = await readPolicy(this.env.DB, tenant);
    } catch (error) {
      if (this.#policy === undefined) throw error;
      logEvent("warn", "tenant policy refresh failed; serving the copy held", { tenant, error: String(error) });
      this.#checkedAt = Date.now() - hostConfig(this.env, "tenant-gate").tenantPolicyMaxAgeMs + REFRESH_RETRY_MS;
      return this.#policy;
    }
    if (fromD1) await this.#apply(fromD1);
    else if (this.#policy === undefined) this.#policy = null;
    this.#checkedAt = Date.now();
    return this.#policy ?? null;
  }

  /** Keeps `policy` if it is at least as new as the one held (an equal version renews the copy). */
  async #apply(policy: TenantPolicy): Promise<void> {
    const held = this.#policy;
    if (held && held.version > policy.version) return;
    this.#checkedAt = Date.now();
    if (held && held.version === policy.version) return;
    await this.ctx.storage.put(POLICY_KEY, policy);
    // A newer version may have been applied while the write was in flight.
    if (this.#policy && this.#policy.version > policy.version) return;
    this.#policy = policy;
    this.#revoked = new Set(policy.revokedKeys);
  }

  /** After a restart: the stored copy (if any) counts as stale, so the next request re-reads D1. */
  async #restore(): Promise<void> {
    if (this.#policy !== undefined) return;
    const stored = await this.ctx.storage.get<TenantPolicy>(POLICY_KEY);
    if (this.#policy !== undefined || !stored) return;
    this.#policy = { ...stored, version: typeof stored.version === "number" ? stored.version : -1 };
    this.#revoked = new Set(stored.revokedKeys);
    this.#checkedAt = 0;
  }
}

async function readPolicy(db: D1Database, tenant: string): Promise<TenantPolicy | null> {
  const [tenantRows, keyRows] = await db.batch([
    db
      .prepare(
        `SELECT policy_version AS policyVersion, status, rate_limit_rps AS rateLimitRps, rate_limit_burst AS rateLimitBurst,
                cors_origins AS corsOrigins FROM tenants WHERE id = ?`,
      )
      .bind(tenant),
    db.prepare("SELECT id FROM api_keys WHERE tenant_id = ? AND revoked_at IS NOT NULL").bind(tenant),
  ]);
  const row = tenantRows?.results[0] as TenantPolicyRow | undefined;
  if (!row) return null;
  return policyFromRow(
    row,
    (keyRows?.results ?? []).map((r) => String((r as { id: unknown }).id)),
  );
}
