// Tenant admission in the simulator: API keys and tenant status in a model of D1, several
// isolates each caching a key's standing and deciding with the platform's own freshness rule
// (src/core/security/tenant-admission.ts `freshness`), operators who suspend and resume tenants
// and revoke keys (forgetting the tenant in the isolate that made the change), and the bound the
// README promises: a change bites in every isolate within TENANT_ADMISSION_MAX_STALE_MS (plus a
// D1 read), and a live stream ends within TENANT_ADMISSION_MAX_STALE_MS + LIVE_REVALIDATE_MS.
import { freshness, type CachedStanding, type KeyStanding } from "../core/security/tenant-admission.js";
import type { World } from "./world.js";

/** Short bounds (as the workerd suites set them), so that they pass many times within a run's few simulated seconds. */
export const ADMISSION_LIMITS = {
  isolates: 3,
  maxStaleMs: 1_000,
  liveRevalidateMs: 1_000,
  /** Slack for the D1 read that refreshes a copy, and for the simulated latencies around it. */
  slackMs: 100,
} as const;

interface Blocked {
  readonly from: number;
  to: number;
}

/** The keys every tenant has in the simulator. */
export const KEY_IDS = ["k1", "k2", "k3"] as const;

export class SimAdmission {
  readonly #world: World;
  readonly #suspended = new Map<string, boolean>();
  readonly #revoked = new Set<string>();
  /** When each key (tenant|key) or tenant was blocked in D1, and until when (Infinity: still). */
  readonly #blocked = new Map<string, Blocked[]>();
  readonly #isolates: Map<string, CachedStanding>[] = Array.from(
    { length: ADMISSION_LIMITS.isolates },
    () => new Map(),
  );
  admitted = 0;
  refused = 0;

  constructor(world: World) {
    this.#world = world;
  }

  /** The standing D1 holds now for a tenant's key. */
  #read(tenant: string, keyId: string): KeyStanding {
    return {
      tenant,
      hash: `${tenant}|${keyId}`,
      revoked: this.#revoked.has(`${tenant}|${keyId}`),
      lastUsedAt: null,
      tenantKnown: true,
      policyVersion: 0,
      status: this.#suspended.get(tenant) ? "suspended" : "active",
      rateLimit: null,
      corsOrigins: [],
    };
  }

  /**
   * Admits a request of `tenant` under `keyId` in a random isolate: from its cached copy while
   * fresh (refreshing behind past half the bound), else after a D1 read. Checks the bound.
   */
  async admit(tenant: string, keyId: string): Promise<boolean> {
    const world = this.#world;
    const isolate = this.#isolates[world.faults.int(this.#isolates.length)] ?? new Map<string, CachedStanding>();
    const cacheKey = `${tenant}|${keyId}`;
    let cached = isolate.get(cacheKey);
    const state = cached ? freshness(cached, world.clock.now, ADMISSION_LIMITS.maxStaleMs) : "expired";
    if (state === "expired" || !cached) {
      const fetchedAt = world.clock.now;
      await world.clock.sleep(3);
      if (world.faults.strike("d1FailBefore")) return false; // 503: never from a copy past its bound
      cached = { standing: this.#read(tenant, keyId), fetchedAt, generation: 0 };
      isolate.set(cacheKey, cached);
    } else if (state === "refresh-behind") {
      const fetchedAt = world.clock.now;
      world.clock.at(3, () => isolate.set(cacheKey, { standing: this.#read(tenant, keyId), fetchedAt, generation: 0 }));
    }
    const ok = !cached.standing.revoked && cached.standing.status === "active";
    if (ok) {
      this.admitted++;
      this.#checkBound(tenant, keyId, "admitted a request");
    } else {
      this.refused++;
    }
    return ok;
  }

  /** Whether the gate (authoritative: it reads D1) lets a live stream of `tenant` under `keyId` go on. */
  standing(tenant: string, keyId: string): boolean {
    const s = this.#read(tenant, keyId);
    return !s.revoked && s.status === "active";
  }

  /** Anomaly if `tenant`'s key has been blocked for longer than the bound. */
  #checkBound(tenant: string, keyId: string, what: string): void {
    const now = this.#world.clock.now;
    const bound = ADMISSION_LIMITS.maxStaleMs + ADMISSION_LIMITS.slackMs;
    for (const id of [tenant, `${tenant}|${keyId}`]) {
      for (const b of this.#blocked.get(id) ?? []) {
        if (b.from + bound <= now && now < b.to)
          this.#world.anomaly(`${what} of ${tenant} (key ${keyId}) ${now - b.from} ms after it was blocked`);
      }
    }
  }

  /**
   * A live stream sent an event: anomaly if its key or tenant has been blocked longer than the
   * stream's bound. A stream may be opened (or reopened after an eviction) through a copy up to
   * `maxStaleMs` old, and lives until its first re-check: the bound is the sum of both (production
   * adds the gate's own policy age, TENANT_POLICY_MAX_AGE_MS; the simulated gate reads D1).
   */
  checkLive(tenant: string, keyId: string): void {
    const now = this.#world.clock.now;
    const bound = ADMISSION_LIMITS.maxStaleMs + ADMISSION_LIMITS.liveRevalidateMs + ADMISSION_LIMITS.slackMs;
    for (const id of [tenant, `${tenant}|${keyId}`]) {
      for (const b of this.#blocked.get(id) ?? []) {
        if (b.from + bound <= now && now < b.to)
          this.#world.anomaly(
            `a live stream of ${tenant} (key ${keyId}) was sent an event ${now - b.from} ms after it was blocked`,
          );
      }
    }
  }

  /** The admin API suspends (or resumes) a tenant: D1 first, then this isolate forgets the tenant. */
  setSuspended(tenant: string, suspended: boolean): void {
    if ((this.#suspended.get(tenant) ?? false) === suspended) return;
    this.#suspended.set(tenant, suspended);
    this.#mark(tenant, suspended);
    this.#forget(tenant);
  }

  /** The admin API revokes a key for good. */
  revoke(tenant: string, keyId: string): void {
    const id = `${tenant}|${keyId}`;
    if (this.#revoked.has(id)) return;
    this.#revoked.add(id);
    this.#mark(id, true);
    this.#forget(tenant);
  }

  #mark(id: string, blocked: boolean): void {
    const now = this.#world.clock.now;
    const list = this.#blocked.get(id) ?? [];
    if (blocked) list.push({ from: now, to: Number.POSITIVE_INFINITY });
    else for (const b of list) if (b.to === Number.POSITIVE_INFINITY) b.to = now;
    this.#blocked.set(id, list);
  }

  /** The isolate that served the admin call drops the tenant's copies (forgetTenantAdmission). */
  #forget(tenant: string): void {
    const isolate = this.#isolates[this.#world.faults.int(this.#isolates.length)];
    if (!isolate) return;
    for (const k of [...isolate.keys()]) if (k.startsWith(`${tenant}|`)) isolate.delete(k);
  }
}
