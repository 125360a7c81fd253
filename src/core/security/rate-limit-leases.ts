// One isolate's share of its tenants' rate limits: tokens leased from each tenant's gate a batch
// at a time (token-bucket.ts: leaseSize, LEASE_TTL_MS) and spent here, one per admitted request.
// The tenant API's admission (admit-request.ts) and the dashboard's work for a tenant
// (cloud/dashboard/tenant-work.ts) spend from the same isolate's leases, so both count against,
// and are refused by, the tenant's one bucket. Pure: the gate is asked through a port.
import { ExpiringCache } from "../runtime/expiring-cache.js";
import { LEASE_TTL_MS, leaseSize, limitKey } from "../resilience/token-bucket.js";
import type { RateLimit } from "./tenant-policy.js";

const CAPACITY = 10_000;

/** The detail of a `rate-limited` refusal, wherever a tenant's request is refused for its limit. */
export const RATE_LIMITED_DETAIL = "this tenant's request rate is over its limit";

/** What spending needs of its host: the clock and the tenant's gate. */
export interface LeasePorts {
  /** The clock, ms since epoch. */
  now(): number;
  /**
   * Up to `want` tokens of `tenant`'s bucket under `limit`, from its gate object
   * (TenantGateRpc.lease): `granted` may be 0, then `retryAfter` (s) says when one is there.
   */
  lease(tenant: string, limit: RateLimit, want: number): Promise<{ granted: number; retryAfter: number }>;
}

interface Lease {
  tokens: number;
  readonly limit: string;
  readonly expiresAt: number;
}

/** Rate-limit tokens this isolate leased from each tenant's gate and has not spent yet. */
export class RateLimitLeases {
  readonly #leases = new ExpiringCache<string, Lease>(CAPACITY, LEASE_TTL_MS);

  /**
   * Spends one of `tenant`'s tokens under `limit` at `now` (ms), leasing a batch from its gate when
   * this isolate holds none; undefined when spent, else the seconds to wait (Retry-After).
   */
  async spend(tenant: string, limit: RateLimit, now: number, ports: LeasePorts): Promise<number | undefined> {
    const key = limitKey(limit);
    const held = this.#leases.get(tenant, now);
    if (held && held.limit === key && held.expiresAt > now && held.tokens > 0) {
      held.tokens--;
      return undefined;
    }
    const granted = await ports.lease(tenant, limit, leaseSize(limit));
    if (granted.granted < 1) return granted.retryAfter;
    // Tokens another request of this isolate leased meanwhile are kept, not dropped.
    const other = this.#leases.get(tenant, ports.now());
    const carried = other && other.limit === key && other.expiresAt > now ? other.tokens : 0;
    this.#leases.set(tenant, { tokens: carried + granted.granted - 1, limit: key, expiresAt: now + LEASE_TTL_MS }, now);
    return undefined;
  }
}

/** This isolate's leases (production: the tenant API's admission and the dashboard share them). */
export const isolateRateLimitLeases = new RateLimitLeases();
