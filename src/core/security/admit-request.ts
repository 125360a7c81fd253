// The per-request admission sequence of the tenant API, one implementation for the Hono adapter
// (edge/tenancy/tenant-auth.ts) and the simulator's isolates (src/simulation/admission.ts): parse
// the bearer key and its id, find the key's standing (this isolate's copy while within
// TENANT_ADMISSION_MAX_STALE_MS, refreshed behind past half of it, else one D1 read shared by the
// requests that need it; a key id with no record cached negatively for 30 s; a client the
// failure limiter refused makes no lookup for a key this isolate does not hold), compare the
// key's digest in constant time, count a failure against the client, refuse a suspended tenant,
// spend a token of the tenant's rate limit (leased from its gate a batch at a time,
// rate-limit-leases.ts) and shed a tenant with too much in flight in this isolate. Every effect
// goes through AdmissionPorts; the isolate's caches are an AdmissionIsolate. Refusals are values
// with a stable `type` (the problem type the adapter renders), never exceptions.
import { InFlight, SHED_RETRY_AFTER_S } from "../resilience/in-flight.js";
import { ExpiringCache } from "../runtime/expiring-cache.js";
import { apiKeyId } from "./api-key.js";
import { bearerToken } from "./bearer-token.js";
import {
  AUTH_FAILURE_PERIOD_S,
  AUTH_FAILURES_LIMITED_DETAIL,
  isolateBlockedClients,
  type BlockedClients,
  type FailureLimiter,
} from "./auth-failures.js";
import {
  freshness,
  isolateGenerations,
  type AdmissionGenerations,
  type CachedStanding,
  type KeyStanding,
} from "./tenant-admission.js";
import {
  isolateRateLimitLeases,
  RATE_LIMITED_DETAIL,
  type LeasePorts,
  type RateLimitLeases,
} from "./rate-limit-leases.js";

const CACHE_CAPACITY = 10_000;
// Key ids no record has: their lookups are not repeated for this long. A key id is 64 random
// bits chosen at issue, so no client can present an id before it exists and see it cached.
const NEGATIVE_TTL_MS = 30_000;
const NEGATIVE_CAPACITY = 10_000;
// last_used_at is written at most once a minute per key and isolate.
const LAST_USED_GRANULARITY_MS = 60_000;
// A copy of a standing is judged by `freshness`; the cache's TTL only bounds memory.
const STANDING_TTL_MS = 10 * 60_000;
/** Retry-After (s) when D1 cannot be read and no copy is within the bound. */
export const LOOKUP_RETRY_AFTER_S = 1;

/** What admission needs of its host. */
export interface AdmissionPorts extends LeasePorts {
  /**
   * The key's record joined with its tenant's policy (production: KEY_STANDING_SQL on D1), or
   * undefined when no record has this key id. Rejects when the directory cannot be read.
   */
  readStanding(keyId: string): Promise<KeyStanding | undefined>;
  /** SHA-256 of `text` as lowercase hex (the digest api_keys.key_hash stores). */
  digest(text: string): Promise<string>;
  /** Constant-time equality of two byte strings of equal length (crypto.subtle.timingSafeEqual). */
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
  /** The per-client failure limiter shared by the location's isolates (AUTH_FAILURES). */
  readonly failures: FailureLimiter;
  /** Records that `keyId` was used at `at` (ms): api_keys.last_used_at. Run in the background. */
  touch(keyId: string, at: number): Promise<unknown>;
  /** Lets `work` finish after the answer (executionCtx.waitUntil); its failure is the host's to ignore. */
  background(work: Promise<unknown>): void;
  /** TENANT_ADMISSION_MAX_STALE_MS: the longest a copy of a standing is trusted, ms. */
  readonly maxStaleMs: number;
  /** TENANT_MAX_IN_FLIGHT: requests of one tenant this isolate serves at once before shedding. */
  readonly maxInFlight: number;
}

/** One admission request: the Authorization header as sent, and who is sending (failingClient). */
export interface AdmissionRequest {
  readonly authorization: string | undefined;
  readonly client: string;
}

/** Who was admitted. Call `release` once when the request is done (its in-flight slot). */
export interface Admitted {
  readonly ok: true;
  readonly tenant: string;
  readonly keyId: string;
  readonly corsOrigins: readonly string[];
  release(): void;
}

/** The tenant a refused request was identified as, when it was (only an `overloaded` refusal is). */
export interface RefusedPrincipal {
  readonly tenant: string;
  readonly keyId: string;
  readonly corsOrigins: readonly string[];
}

/**
 * Why a request is not admitted. `type` is the problem type the tenant API answers with (its
 * status fixed by the problem catalogue, repeated in `status`); `retryAfter` is the Retry-After
 * in seconds when the client should come back.
 * - unauthorized (401): no well-formed key, an unknown or revoked key, a wrong secret, a tenant gone
 *   (each a failure counted against the client, but a revoked key sent with its own secret);
 * - auth-failures-limited (429): the client failed too often (AUTH_FAILURE_PERIOD_S);
 * - tenant-suspended (403);
 * - rate-limited (429): the tenant's bucket is empty;
 * - overloaded (429): the tenant has TENANT_MAX_IN_FLIGHT requests in flight in this isolate;
 * - dependency-unavailable (503): D1 could not be read and no copy is within the bound.
 */
export type AdmissionRefusal =
  | { readonly ok: false; readonly type: "unauthorized"; readonly status: 401; readonly detail: string }
  | {
      readonly ok: false;
      readonly type: "auth-failures-limited" | "rate-limited";
      readonly status: 429;
      readonly detail: string;
      readonly retryAfter: number;
    }
  | { readonly ok: false; readonly type: "tenant-suspended"; readonly status: 403; readonly detail: string }
  | {
      readonly ok: false;
      readonly type: "overloaded";
      readonly status: 429;
      readonly detail: string;
      readonly retryAfter: number;
      readonly principal: RefusedPrincipal;
    }
  | {
      readonly ok: false;
      readonly type: "dependency-unavailable";
      readonly status: 503;
      readonly detail: string;
      readonly retryAfter: number;
    };

/** The outcome of one admission. */
export type Admission = Admitted | AdmissionRefusal;

/**
 * One isolate's admission state: its copies of keys' standings, the key ids known not to exist,
 * the D1 reads in flight, its rate-limit leases, the keys that matched their digest, the clients
 * it saw blocked, the tenants' requests in flight and the generations of changes it made.
 * Production keeps one per isolate (module scope); the simulator one per simulated isolate.
 */
export class AdmissionIsolate {
  readonly #standings = new ExpiringCache<string, CachedStanding>(CACHE_CAPACITY, STANDING_TTL_MS);
  readonly #unknownKeys = new ExpiringCache<string, true>(NEGATIVE_CAPACITY, NEGATIVE_TTL_MS);
  // One D1 read per key at a time: requests that find the copy stale meanwhile share it.
  readonly #reading = new Map<string, Promise<CachedStanding | undefined>>();
  readonly #leases: RateLimitLeases;
  // Keys that matched their digest, by key id, as UTF-8 bytes (see #secretMatches).
  readonly #verifiedKeys = new ExpiringCache<string, { readonly key: Uint8Array; readonly hash: string }>(
    CACHE_CAPACITY,
    STANDING_TTL_MS,
  );
  readonly #blocked: BlockedClients;
  readonly #utf8 = new TextEncoder();
  /** Requests of each tenant in flight in this isolate. */
  readonly inFlight: InFlight;
  /** Changes this isolate made (the admin API's `forgetTenantAdmission` in production). */
  readonly generations: AdmissionGenerations;

  /**
   * Defaults: a fresh in-flight count, and this (production) isolate's generations, blocked
   * clients (which the dashboard's sign-in shares) and rate-limit leases (which the dashboard's
   * work for a tenant spends from); the simulator passes its own per isolate.
   */
  constructor(
    options: {
      inFlight?: InFlight;
      generations?: AdmissionGenerations;
      blocked?: BlockedClients;
      leases?: RateLimitLeases;
    } = {},
  ) {
    this.inFlight = options.inFlight ?? new InFlight();
    this.generations = options.generations ?? isolateGenerations;
    this.#blocked = options.blocked ?? isolateBlockedClients;
    this.#leases = options.leases ?? isolateRateLimitLeases;
  }

  /**
   * Admits or refuses one request. Exceptions only for bugs and for a failure limiter that
   * throws; D1 failures are the `dependency-unavailable` refusal.
   */
  async admit(request: AdmissionRequest, ports: AdmissionPorts): Promise<Admission> {
    const apiKey = bearerToken(request.authorization);
    const keyId = apiKey ? apiKeyId(apiKey) : undefined;
    // Without a well-formed key nothing is looked up, so nothing is worth limiting.
    if (!apiKey || !keyId) return unauthorized();

    const now = ports.now();
    let found: CachedStanding | undefined | "blocked";
    try {
      found = await this.#lookup(keyId, request.client, now, ports);
    } catch {
      // D1 unreachable and no copy within the bound: serving an older one would break the bound.
      return {
        ok: false,
        type: "dependency-unavailable",
        status: 503,
        detail: "the tenant directory is unavailable; retry shortly",
        retryAfter: LOOKUP_RETRY_AFTER_S,
      };
    }
    if (found === "blocked") return failuresLimited();
    const record = found?.standing;
    if (!record?.tenantKnown || !(await this.#secretMatches(keyId, apiKey, record.hash, ports)))
      return (await this.#blocked.recordFailure(ports.failures, request.client, now)) === "limited"
        ? failuresLimited()
        : unauthorized();
    // A revoked key sent with its own secret is no guess, and its copy spares D1 a read, so it is
    // not counted: a client still retrying the key its operator rotated out must not get its IP
    // (a whole NAT's, say) shut out of the new key, which this isolate may not hold yet.
    if (record.revoked) return unauthorized();
    if (record.status !== "active")
      return { ok: false, type: "tenant-suspended", status: 403, detail: `tenant ${record.tenant} is suspended` };
    if (record.rateLimit) {
      const refused = await this.#leases.spend(record.tenant, record.rateLimit, now, ports);
      if (refused !== undefined)
        return { ok: false, type: "rate-limited", status: 429, detail: RATE_LIMITED_DETAIL, retryAfter: refused };
    }
    if (found && (record.lastUsedAt === null || now - record.lastUsedAt > LAST_USED_GRANULARITY_MS)) {
      this.#standings.set(keyId, { ...found, standing: { ...record, lastUsedAt: now } }, now);
      ports.background(ports.touch(keyId, now));
    }
    const principal = { tenant: record.tenant, keyId, corsOrigins: record.corsOrigins };
    // Every tenant has a ceiling on what it keeps in flight in one isolate, limit or not, so one
    // tenant's flood cannot queue the isolate's work behind it; over it the answer costs no more.
    if (!this.inFlight.tryEnter(record.tenant, ports.maxInFlight))
      return {
        ok: false,
        type: "overloaded",
        status: 429,
        detail: `${ports.maxInFlight} requests of this tenant are already in flight`,
        retryAfter: SHED_RETRY_AFTER_S,
        principal,
      };
    let released = false;
    return {
      ok: true,
      ...principal,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight.leave(record.tenant);
      },
    };
  }

  /**
   * The key's standing: this isolate's copy while within the bound (refreshed behind past half of
   * it), else a fresh read — unless the key id is known not to exist (undefined, no read) or
   * the client is blocked for failing too often ("blocked").
   */
  async #lookup(
    keyId: string,
    client: string,
    now: number,
    ports: AdmissionPorts,
  ): Promise<CachedStanding | undefined | "blocked"> {
    const cached = this.#standings.get(keyId, now);
    if (cached) {
      const state = freshness(cached, now, ports.maxStaleMs, this.generations);
      if (state === "fresh") return cached;
      if (state === "refresh-behind") {
        if (!this.#reading.has(keyId)) ports.background(this.#read(keyId, ports).catch(() => undefined));
        return cached;
      }
    }
    if (this.#unknownKeys.get(keyId, now)) return undefined;
    // A blocked client's keys already cached above still authenticate; new ones are not looked up.
    if (!cached && this.#blocked.isBlocked(client, now)) return "blocked";
    return this.#read(keyId, ports);
  }

  #read(keyId: string, ports: AdmissionPorts): Promise<CachedStanding | undefined> {
    let pending = this.#reading.get(keyId);
    if (!pending) {
      pending = this.#readOnce(keyId, ports).finally(() => this.#reading.delete(keyId));
      this.#reading.set(keyId, pending);
    }
    return pending;
  }

  async #readOnce(keyId: string, ports: AdmissionPorts): Promise<CachedStanding | undefined> {
    const started = ports.now();
    const generation = this.generations.current();
    const standing = await ports.readStanding(keyId);
    if (!standing) {
      this.#standings.delete(keyId);
      this.#unknownKeys.set(keyId, true, started);
      return undefined;
    }
    // Dated from before the read, with the generation then: a change made here while the read was
    // in flight leaves the copy expired for the next request.
    const entry: CachedStanding = { standing, fetchedAt: started, generation };
    this.#standings.set(keyId, entry, started);
    return entry;
  }

  /**
   * Whether `apiKey` is the key whose digest is `hash`: once a key has matched, this isolate keeps
   * it and compares the next presentation with it directly (constant time), so a known key costs
   * no SHA-256 per request. Revocation is not decided here but by the key's standing.
   */
  async #secretMatches(keyId: string, apiKey: string, hash: string, ports: AdmissionPorts): Promise<boolean> {
    const known = this.#verifiedKeys.get(keyId, ports.now());
    const presented = this.#utf8.encode(apiKey);
    if (known !== undefined && known.hash === hash) return constantTimeEqual(presented, known.key, ports);
    const digest = this.#utf8.encode(await ports.digest(apiKey));
    if (!constantTimeEqual(digest, this.#utf8.encode(hash), ports)) return false;
    this.#verifiedKeys.set(keyId, { key: presented, hash }, ports.now());
    return true;
  }
}

function constantTimeEqual(x: Uint8Array, y: Uint8Array, ports: AdmissionPorts): boolean {
  if (x.byteLength !== y.byteLength) return false;
  return ports.timingSafeEqual(x, y);
}

function unauthorized(): AdmissionRefusal {
  return { ok: false, type: "unauthorized", status: 401, detail: "send Authorization: Bearer <tenant api key>" };
}

function failuresLimited(): AdmissionRefusal {
  return {
    ok: false,
    type: "auth-failures-limited",
    status: 429,
    detail: AUTH_FAILURES_LIMITED_DETAIL,
    retryAfter: AUTH_FAILURE_PERIOD_S,
  };
}
