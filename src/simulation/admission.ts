// Tenant admission in the simulator: several isolates, each an AdmissionIsolate running the
// platform's own admission sequence (src/core/security/admit-request.ts, the code the Hono
// adapter edge/tenancy/tenant-auth.ts runs), over ports on this file's models: D1's api_keys and
// tenants rows (keys issued as real `fl_<id>_<secret>` keys, only their SHA-256 stored), the
// AUTH_FAILURES limiter (a fixed window per client, shared by the isolates as the binding is per
// location), and each tenant's gate holding its rate-limit buckets (the gate's own LimitBuckets).
// Operators suspend and resume tenants and revoke keys (forgetting the tenant in the isolate that
// made the change); stray clients send malformed, unknown and forged keys alongside the workload.
// Invariants checked here: a change bites in every isolate within TENANT_ADMISSION_MAX_STALE_MS
// (plus a D1 read), a live stream ends within TENANT_ADMISSION_MAX_STALE_MS + LIVE_REVALIDATE_MS,
// a bad key is never admitted, a client over the failure limit is refused 429, and a rate-limited
// tenant is never admitted more than its limit allows over any window, within the lease's slack.
import { ownValue } from "../core/model/own-keys.js";
import {
  AdmissionIsolate,
  type Admission,
  type AdmissionPorts,
  type AdmissionRefusal,
  type Admitted,
} from "../core/security/admit-request.js";
import { AUTH_FAILURE_PERIOD_S, BlockedClients, type FailureLimiter } from "../core/security/auth-failures.js";
import { RateLimitLeases } from "../core/security/rate-limit-leases.js";
import type { Standing } from "../core/live/live-feed-host.js";
import { AdmissionGenerations, type KeyStanding } from "../core/security/tenant-admission.js";
import type { RateLimit } from "../core/security/tenant-policy.js";
import { InFlight } from "../core/resilience/in-flight.js";
import { LEASE_TTL_MS, LimitBuckets } from "../core/resilience/token-bucket.js";
import type { Prng } from "./prng.js";
import { sha256HexSync } from "./sha256.js";
import type { World } from "./world.js";

/** Short bounds (as the workerd suites set them), so that they pass many times within a run's few simulated seconds. */
export const ADMISSION_LIMITS = {
  isolates: 3,
  maxStaleMs: 1_000,
  liveRevalidateMs: 1_000,
  /** Slack for the D1 read that refreshes a copy, and for the simulated latencies around it. */
  slackMs: 100,
  /** TENANT_MAX_IN_FLIGHT (production's default). */
  maxInFlight: 256,
  /** The rate limit of the tenants that have one (the second tenant of a run, "t2"). */
  rateLimits: { t2: { requestsPerSecond: 50, burst: 20 } } as Readonly<Record<string, RateLimit>>,
  /** AUTH_FAILURES: failed attempts a client may make per AUTH_FAILURE_PERIOD_S window. */
  failuresPerPeriod: 30,
  /** Chance that a client request is accompanied by a stray client's request with a bad key. */
  strayChance: 0.05,
  /** Stray clients (their own failure-limit counts). */
  strayClients: 2,
} as const;

interface Blocked {
  readonly from: number;
  to: number;
}

/** The keys every tenant has in the simulator. */
export const KEY_IDS = ["k1", "k2", "k3"] as const;

/** A key as D1 holds it, with the key string its client presents (D1 stores only the digest). */
interface IssuedKey {
  readonly tenant: string;
  readonly keyId: string;
  readonly apiKey: string;
  readonly hash: string;
  revoked: boolean;
}

/** What refusals and stray requests met, for the run's figures. */
export interface AdmissionCounts {
  admitted: number;
  refused: Record<AdmissionRefusal["type"], number>;
  /** Requests with a bad key from stray clients (none may be admitted). */
  strays: number;
  /** Of those, refused 429 because their client was over the failure limit. */
  strayLimited: number;
  /** Gate lease calls and D1 key reads the isolates made. */
  leases: number;
  keyReads: number;
}

export class SimAdmission {
  readonly #world: World;
  readonly #prng: Prng;
  readonly #suspended = new Map<string, boolean>();
  /** api_keys by simulator key name (tenant|k1) and by key id. */
  readonly #keys = new Map<string, IssuedKey>();
  readonly #byKeyId = new Map<string, IssuedKey>();
  /** When each key (tenant|key) or tenant was blocked in D1, and until when (Infinity: still). */
  readonly #blocked = new Map<string, Blocked[]>();
  readonly #isolates: AdmissionIsolate[] = Array.from(
    { length: ADMISSION_LIMITS.isolates },
    () =>
      new AdmissionIsolate({
        inFlight: new InFlight(),
        generations: new AdmissionGenerations(),
        blocked: new BlockedClients(),
        leases: new RateLimitLeases(),
      }),
  );
  /** Each tenant's gate: its rate-limit buckets. */
  readonly #gates = new Map<string, LimitBuckets>();
  /** AUTH_FAILURES: failures per client in the current fixed window. */
  readonly #failures = new Map<string, { window: number; count: number }>();
  /** Admission instants of each rate-limited tenant within the horizon the rate check looks at. */
  readonly #admittedAt = new Map<string, number[]>();
  readonly #ports: AdmissionPorts;
  #unknownKeyIds = 0;
  readonly counts: AdmissionCounts = {
    admitted: 0,
    refused: {
      unauthorized: 0,
      "auth-failures-limited": 0,
      "tenant-suspended": 0,
      "rate-limited": 0,
      overloaded: 0,
      "dependency-unavailable": 0,
    },
    strays: 0,
    strayLimited: 0,
    leases: 0,
    keyReads: 0,
  };

  constructor(world: World) {
    this.#world = world;
    this.#prng = world.prng.fork();
    const limiter: FailureLimiter = {
      limit: async ({ key }) => {
        await world.clock.sleep(1);
        const window = this.#window();
        const held = this.#failures.get(key);
        const count = held?.window === window ? held.count + 1 : 1;
        this.#failures.set(key, { window, count });
        return { success: count <= ADMISSION_LIMITS.failuresPerPeriod };
      },
    };
    this.#ports = {
      now: () => world.clock.now,
      readStanding: async (keyId) => {
        this.counts.keyReads++;
        await world.clock.sleep(3);
        if (world.faults.strike("d1FailBefore")) throw new Error("D1 unreachable");
        return this.#read(keyId);
      },
      digest: (text) => Promise.resolve(sha256HexSync(text)),
      timingSafeEqual,
      failures: limiter,
      lease: async (tenant, limit, want) => {
        this.counts.leases++;
        await world.clock.sleep(2);
        let gate = this.#gates.get(tenant);
        if (!gate) {
          gate = new LimitBuckets();
          this.#gates.set(tenant, gate);
        }
        return gate.lease(limit, want, world.clock.now);
      },
      touch: () => Promise.resolve(),
      background: (work) => void work.catch(() => undefined),
      maxStaleMs: ADMISSION_LIMITS.maxStaleMs,
      maxInFlight: ADMISSION_LIMITS.maxInFlight,
    };
  }

  /** The AUTH_FAILURES window `now` falls in. */
  #window(): number {
    return Math.floor(this.#world.clock.now / (AUTH_FAILURE_PERIOD_S * 1000));
  }

  /** The key named `keyName` of `tenant`, issued on first use (ids in order of first use, so a run replays). */
  #key(tenant: string, keyName: string): IssuedKey {
    const name = `${tenant}|${keyName}`;
    let key = this.#keys.get(name);
    if (!key) {
      const keyId = (this.#keys.size + 1).toString(16).padStart(16, "0");
      const secret = `sim_${name}`
        .replace(/[^A-Za-z0-9_-]/g, "_")
        .padEnd(32, "x")
        .slice(0, 64);
      const apiKey = `fl_${keyId}_${secret}`;
      key = { tenant, keyId, apiKey, hash: sha256HexSync(apiKey), revoked: false };
      this.#keys.set(name, key);
      this.#byKeyId.set(keyId, key);
    }
    return key;
  }

  /** The standing D1 holds now for a key id (KEY_STANDING_SQL's row), if any key has it. */
  #read(keyId: string): KeyStanding | undefined {
    const key = this.#byKeyId.get(keyId);
    if (!key) return undefined;
    return {
      tenant: key.tenant,
      hash: key.hash,
      revoked: key.revoked,
      lastUsedAt: null,
      tenantKnown: true,
      policyVersion: 0,
      status: this.#suspended.get(key.tenant) ? "suspended" : "active",
      rateLimit: ownValue(ADMISSION_LIMITS.rateLimits, key.tenant) ?? null,
      corsOrigins: [],
    };
  }

  /**
   * A request of `tenant`'s client under its key `keyName`, in a random isolate, through the
   * shared admission sequence. Checks the invariants of what it was answered. The admitted
   * request holds its in-flight slot until `release`.
   */
  async request(tenant: string, keyName: string): Promise<Admitted | undefined> {
    const world = this.#world;
    if (this.#prng.chance(ADMISSION_LIMITS.strayChance))
      void this.#stray(tenant).catch((error: unknown) => world.anomaly(`a stray request threw: ${String(error)}`));
    const isolate = this.#isolates[world.faults.int(this.#isolates.length)];
    if (!isolate) throw new Error("no isolate");
    const key = this.#key(tenant, keyName);
    const admission = await isolate.admit(
      { authorization: `Bearer ${key.apiKey}`, client: `ip:${tenant}` },
      this.#ports,
    );
    if (!admission.ok) {
      this.counts.refused[admission.type]++;
      return undefined;
    }
    if (admission.tenant !== tenant) world.anomaly(`key of ${tenant} admitted as tenant ${admission.tenant}`);
    this.counts.admitted++;
    this.#checkBound(tenant, keyName, "admitted a request");
    this.#checkRate(tenant);
    return admission;
  }

  /** A request whose in-flight slot ends as soon as it is admitted (a stream's open): whether it was. */
  async admit(tenant: string, keyName: string): Promise<boolean> {
    const admitted = await this.request(tenant, keyName);
    admitted?.release();
    return admitted !== undefined;
  }

  /**
   * A stray client's request with a bad key, sent alongside `tenant`'s traffic: malformed, an
   * unknown key id (sometimes one sent before, which the negative cache answers), or one of the
   * tenant's key ids with a forged secret. Anomaly if admitted, or if its client was over the
   * failure limit for the whole request and it was not refused 429 (a well-formed key; 503 is
   * allowed when D1 could not be read, as production answers).
   */
  async #stray(tenant: string): Promise<void> {
    const world = this.#world;
    const prng = this.#prng;
    const client = `ip:stray-${prng.int(ADMISSION_LIMITS.strayClients)}`;
    const r = prng.next();
    let authorization: string | undefined;
    let wellFormed = true;
    if (r < 0.2) {
      wellFormed = false;
      // No header at all, another scheme, a key too short, a token of another shape.
      const sent = prng.pick(["", "Basic dXNlcjpwYXNz", "Bearer fl_short_x", `Bearer ${"y".repeat(40)}`]);
      authorization = sent === "" ? undefined : sent;
    } else if (r < 0.6) {
      const id = prng.chance(0.5) && this.#unknownKeyIds > 0 ? prng.int(this.#unknownKeyIds) : this.#unknownKeyIds++;
      authorization = `Bearer fl_f${id.toString(16).padStart(15, "0")}_${"u".repeat(32)}`;
    } else {
      const real = this.#key(tenant, prng.pick(KEY_IDS));
      authorization = `Bearer fl_${real.keyId}_${"forged".padEnd(32, "z")}`;
    }
    const window = this.#window();
    const over =
      (this.#failures.get(client)?.window === window ? (this.#failures.get(client)?.count ?? 0) : 0) >=
      ADMISSION_LIMITS.failuresPerPeriod;
    const isolate = this.#isolates[world.faults.int(this.#isolates.length)];
    if (!isolate) throw new Error("no isolate");
    this.counts.strays++;
    const admission: Admission = await isolate.admit({ authorization, client }, this.#ports);
    if (admission.ok) {
      admission.release();
      world.anomaly(`a stray client was admitted as tenant ${admission.tenant} with a bad key (${authorization})`);
      return;
    }
    this.counts.refused[admission.type]++;
    if (admission.type === "auth-failures-limited") this.counts.strayLimited++;
    const expected = ["auth-failures-limited", "dependency-unavailable"];
    if (wellFormed && over && this.#window() === window && !expected.includes(admission.type))
      world.anomaly(`${client}, over the failure limit, was answered ${admission.type} instead of 429`);
  }

  /** Whether the gate (authoritative: it reads D1) lets a live stream of `tenant` under `keyId` go on. */
  standing(tenant: string, keyName: string): boolean {
    return this.standingOf(tenant, keyName) === "ok";
  }

  /** What the gate answers a live feed's standing check with (production: `TenantGate.standing`). */
  standingOf(tenant: string, keyName: string): Standing {
    const s = this.#read(this.#key(tenant, keyName).keyId);
    if (s === undefined || s.revoked) return "revoked";
    return s.status === "active" ? "ok" : "suspended";
  }

  /** Anomaly if `tenant`'s key has been blocked for longer than the bound. */
  #checkBound(tenant: string, keyName: string, what: string): void {
    const now = this.#world.clock.now;
    const bound = ADMISSION_LIMITS.maxStaleMs + ADMISSION_LIMITS.slackMs;
    for (const id of [tenant, `${tenant}|${keyName}`]) {
      for (const b of this.#blocked.get(id) ?? []) {
        if (b.from + bound <= now && now < b.to)
          this.#world.anomaly(`${what} of ${tenant} (key ${keyName}) ${now - b.from} ms after it was blocked`);
      }
    }
  }

  /**
   * Anomaly if `tenant` (rate-limited) was admitted more often over some window ending now than
   * its limit allows: tokens are granted by the one bucket and spent within LEASE_TTL_MS of their
   * lease (plus the lookup's latency), so over any window of W ms at most
   * burst + rps · (W + LEASE_TTL_MS + slack) / 1000 requests (src/core/resilience/token-bucket.ts).
   */
  #checkRate(tenant: string): void {
    const limit = ownValue(ADMISSION_LIMITS.rateLimits, tenant);
    if (!limit) return;
    const now = this.#world.clock.now;
    // Longer windows add as much to the allowance as the refill can give, so 2 s covers them.
    const horizon = 2_000;
    let times = this.#admittedAt.get(tenant);
    if (!times) {
      times = [];
      this.#admittedAt.set(tenant, times);
    }
    let stale = 0;
    while (stale < times.length && (times[stale] ?? now) <= now - horizon) stale++;
    if (stale > 0) times.splice(0, stale);
    times.push(now);
    for (let i = 0; i < times.length; i++) {
      const from = times[i] ?? now;
      const allowed =
        limit.burst + (limit.requestsPerSecond * (now - from + LEASE_TTL_MS + ADMISSION_LIMITS.slackMs)) / 1000;
      if (times.length - i > allowed) {
        this.#world.anomaly(
          `${tenant} admitted ${times.length - i} requests in ${now - from} ms, over its limit (${limit.requestsPerSecond}/s, burst ${limit.burst})`,
        );
        return;
      }
    }
  }

  /**
   * A live stream sent an event: anomaly if its key or tenant has been blocked longer than the
   * stream's bound. A stream may be opened (or reopened after an eviction) through a copy up to
   * `maxStaleMs` old, and lives until its first re-check: the bound is the sum of both (production
   * adds the gate's own policy age, TENANT_POLICY_MAX_AGE_MS; the simulated gate reads D1).
   */
  checkLive(tenant: string, keyName: string): void {
    const now = this.#world.clock.now;
    const bound = ADMISSION_LIMITS.maxStaleMs + ADMISSION_LIMITS.liveRevalidateMs + ADMISSION_LIMITS.slackMs;
    for (const id of [tenant, `${tenant}|${keyName}`]) {
      for (const b of this.#blocked.get(id) ?? []) {
        if (b.from + bound <= now && now < b.to)
          this.#world.anomaly(
            `a live stream of ${tenant} (key ${keyName}) was sent an event ${now - b.from} ms after it was blocked`,
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
  revoke(tenant: string, keyName: string): void {
    const key = this.#key(tenant, keyName);
    if (key.revoked) return;
    key.revoked = true;
    this.#mark(`${tenant}|${keyName}`, true);
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
    isolate?.generations.forget(tenant, this.#world.clock.now);
  }
}

/** Equality of two byte strings of equal length in time independent of their content. */
function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.byteLength ^ b.byteLength;
  for (let i = 0; i < a.byteLength; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
