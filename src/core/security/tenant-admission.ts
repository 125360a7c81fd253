// Admission of a tenant request without a per-request hop to any per-tenant object: each isolate
// holds, per API key, the key's record and its tenant's policy as one D1 read returned them, and
// decides from that copy. The copy is trusted for at most `maxStaleMs` (TENANT_ADMISSION_MAX_STALE_MS,
// README: "Admission"); past half of it a request still uses it and refreshes it in the
// background, past all of it a request waits for a fresh read. So a suspension, a revocation or a
// new rate limit written to D1 by any isolate bites in every isolate within `maxStaleMs` (plus
// one D1 read), and at once in the isolate that made the change (it calls `forgetTenantAdmission`).
// Pure: no bindings; the caller reads D1 and passes the clock.
import { ExpiringCache } from "../runtime/expiring-cache.js";
import { corsOriginsFromColumn, rateLimitFromColumns, type RateLimit } from "./tenant-policy.js";

/** A key's record joined with its tenant's policy, as one D1 read returned it. */
export interface KeyStanding {
  readonly tenant: string;
  /** SHA-256 hex digest of the key, compared in constant time. */
  readonly hash: string;
  readonly revoked: boolean;
  /** ms since epoch, or null if never used. */
  readonly lastUsedAt: number | null;
  /** The tenant row is gone: nothing of it may run. */
  readonly tenantKnown: boolean;
  readonly policyVersion: number;
  readonly status: "active" | "suspended";
  readonly rateLimit: RateLimit | null;
  readonly corsOrigins: readonly string[];
}

/** A cached standing: when its D1 read started (ms) and `admissionGeneration()` then. */
export interface CachedStanding {
  readonly standing: KeyStanding;
  readonly fetchedAt: number;
  readonly generation: number;
}

/** What to do with a cached copy at `now`: use it, use it and refresh behind, or read afresh. */
export type Freshness = "fresh" | "refresh-behind" | "expired";

/**
 * The changes one isolate made to tenants' admission: a generation raised by each, and per
 * tenant the generation of its last change. A copy read from D1 at generation g is stale once its
 * tenant changed after g. An evicted tenant reads 0: only after 10 min or 10,000 newer changes,
 * when every copy older than the change is past its bound anyway. Production has one per isolate
 * (`isolateGenerations`); the simulator one per simulated isolate.
 */
export class AdmissionGenerations {
  #generation = 0;
  readonly #changedAt = new ExpiringCache<string, number>(10_000, 10 * 60_000);

  /** The generation to record with a copy whose D1 read starts now. */
  current(): number {
    return this.#generation;
  }

  /** Marks `tenant` changed at `now` (ms): copies read before this call are expired. */
  forget(tenant: string, now: number): void {
    this.#generation++;
    this.#changedAt.set(tenant, this.#generation, now);
  }

  /** Whether `tenant` changed in this isolate after `generation` (as of `now`, ms). */
  changedSince(tenant: string, generation: number, now: number): boolean {
    return (this.#changedAt.get(tenant, now) ?? 0) > generation;
  }
}

/** This isolate's generations (production: the admin API and admission share one isolate's). */
export const isolateGenerations = new AdmissionGenerations();

/**
 * How `cached` may serve at `now` (ms) under the bound `maxStaleMs`: "expired" once it is that
 * old or its tenant was forgotten (in `generations`) since it was read; "refresh-behind" past
 * half the bound.
 */
export function freshness(
  cached: CachedStanding,
  now: number,
  maxStaleMs: number,
  generations: AdmissionGenerations = isolateGenerations,
): Freshness {
  if (generations.changedSince(cached.standing.tenant, cached.generation, now)) return "expired";
  const age = now - cached.fetchedAt;
  if (age >= maxStaleMs || age < 0) return "expired";
  return age >= maxStaleMs / 2 ? "refresh-behind" : "fresh";
}

/** The generation to record with a copy whose D1 read starts now (this isolate's). */
export function admissionGeneration(): number {
  return isolateGenerations.current();
}

/**
 * Drops this isolate's copies of `tenant`'s keys and policy (those read before this call): the
 * admin API calls it after writing a change to D1, so the change bites at once in this isolate,
 * and within the bound everywhere else.
 */
export function forgetTenantAdmission(tenant: string): void {
  isolateGenerations.forget(tenant, Date.now());
}

/** A D1 row of `api_keys` left-joined with `tenants` (column aliases as the query names them). */
export interface KeyStandingRow {
  readonly tenant: string;
  readonly hash: string;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
  readonly policyVersion: number | null;
  readonly status: string | null;
  readonly rateLimitRps: number | null;
  readonly rateLimitBurst: number | null;
  readonly corsOrigins: unknown;
}

/** The standing a row states; a status other than "active" counts as suspended (fail closed). */
export function standingFromRow(row: KeyStandingRow): KeyStanding {
  return {
    tenant: row.tenant,
    hash: row.hash,
    revoked: row.revokedAt !== null,
    lastUsedAt: row.lastUsedAt,
    tenantKnown: row.status !== null,
    policyVersion: row.policyVersion ?? -1,
    status: row.status === "active" ? "active" : "suspended",
    rateLimit: rateLimitFromColumns(row.rateLimitRps, row.rateLimitBurst),
    corsOrigins: corsOriginsFromColumn(row.corsOrigins),
  };
}

/** The one D1 statement that reads a key's standing (bind the key id). */
export const KEY_STANDING_SQL = `SELECT k.tenant_id AS tenant, k.key_hash AS hash, k.revoked_at AS revokedAt, k.last_used_at AS lastUsedAt,
       t.policy_version AS policyVersion, t.status AS status, t.rate_limit_rps AS rateLimitRps,
       t.rate_limit_burst AS rateLimitBurst, t.cors_origins AS corsOrigins
  FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?`;
