// Admits /v1 requests: `Authorization: Bearer <tenant api key>` decides the tenant. Nothing here
// calls a per-tenant object per request. The key's record and its tenant's policy (status, rate
// limit, CORS origins) come from one D1 read, cached per isolate and trusted for at most
// TENANT_ADMISSION_MAX_STALE_MS (src/core/security/tenant-admission.ts: refreshed in the background past
// half of it), so suspension, revocation and a new limit bite everywhere within that bound. The
// digest is compared in constant time. A key id with no record is cached negatively for 30 s and
// failed attempts are rate limited per client (AUTH_FAILURES), so a flood of bad keys costs
// neither a D1 query each nor unbounded memory. A tenant's configured rate limit is one token
// bucket in its gate object, leased to isolates a batch at a time (src/core/resilience/token-bucket.ts).
// Refusals are thrown as problems and rendered by the app's one error handler. Hono's bearerAuth
// is not used here: admission needs the key's id before any comparison (the negative cache and the
// per-client failure limit are keyed by it), and bearerAuth's fixed answers would replace them.
import type { MiddlewareHandler } from "hono";
import { apiKeyId, sha256Hex } from "../../src/core/security/api-key.js";
import {
  AUTH_FAILURE_PERIOD_S,
  failingClient,
  isBlocked,
  recordFailure,
} from "../../src/core/security/auth-failures.js";
import { ExpiringCache } from "../../src/core/runtime/expiring-cache.js";
import { faultPoint } from "../../src/core/resilience/fault-injection.js";
import { InFlight, SHED_RETRY_AFTER_S } from "../../src/core/resilience/in-flight.js";
import { fail, type ProblemError } from "../../src/core/http/problem.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import {
  freshness,
  KEY_STANDING_SQL,
  standingFromRow,
  admissionGeneration,
  type CachedStanding,
  type KeyStanding,
  type KeyStandingRow,
} from "../../src/core/security/tenant-admission.js";
import type { RateLimit } from "../../src/core/security/tenant-policy.js";
import { LEASE_TTL_MS, leaseSize, limitKey } from "../../src/core/resilience/token-bucket.js";
import { tenantGateStub } from "../stubs.js";

const CACHE_CAPACITY = 10_000;
// Key ids no record has: their lookups are not repeated for this long. A key id is 64 random
// bits chosen at issue, so no client can present an id before it exists and see it cached.
const NEGATIVE_TTL_MS = 30_000;
const NEGATIVE_CAPACITY = 10_000;
const LAST_USED_GRANULARITY_MS = 60_000;
/** Requests of each tenant in flight in this isolate; exported as a test seam. */
export const tenantsInFlight = new InFlight();

// Entries are judged by `freshness` (their age and generation); the cache's TTL only bounds memory.
const cache = new ExpiringCache<string, CachedStanding>(CACHE_CAPACITY, 10 * 60_000);
const unknownKeys = new ExpiringCache<string, true>(NEGATIVE_CAPACITY, NEGATIVE_TTL_MS);
// One D1 read per key at a time: requests that find the copy stale meanwhile share it.
const reading = new Map<string, Promise<CachedStanding | undefined>>();
// Rate-limit tokens this isolate leased from each tenant's gate and has not spent yet.
const leases = new ExpiringCache<string, { tokens: number; readonly limit: string; readonly expiresAt: number }>(
  CACHE_CAPACITY,
  LEASE_TTL_MS,
);

// Keys that matched their digest, by key id (see secretMatches).
// The key is kept as UTF-8 bytes, so each presentation costs one encoding and one comparison.
const verifiedKeys = new ExpiringCache<string, { readonly key: Uint8Array; readonly hash: string }>(
  CACHE_CAPACITY,
  10 * 60_000,
);
const utf8 = new TextEncoder();

/** Observation seams for tests: D1 key reads and gate lease calls this isolate has made. */
export const keyLookupCount = { value: 0 };
export const gateLeaseCount = { value: 0 };

export function tenantAuth(): MiddlewareHandler<{ Bindings: Env; Variables: RequestScope }> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const apiKey = match?.[1];
    const keyId = apiKey ? apiKeyId(apiKey) : undefined;
    // Without a well-formed key nothing is looked up, so nothing is worth limiting.
    if (!apiKey || !keyId) throw unauthorized();

    const now = Date.now();
    const client = failingClient(c.req.raw);
    const maxStaleMs = hostConfig(c.env, "edge").tenantAdmissionMaxStaleMs;
    let found: Awaited<ReturnType<typeof lookup>>;
    try {
      found = await lookup(c.env.DB, keyId, client, now, maxStaleMs, (p) => c.executionCtx.waitUntil(p));
    } catch {
      // D1 unreachable and no copy within the bound: serving an older one would break the bound.
      throw fail("dependency-unavailable", "the tenant directory is unavailable; retry shortly", { retryAfter: 1 });
    }
    if (found === "blocked") throw failuresLimited();
    const record = found?.standing;
    if (!record?.tenantKnown || record.revoked || !(await secretMatches(keyId, apiKey, record.hash)))
      throw await failed(c.env, client, now);
    if (record.status !== "active") throw fail("tenant-suspended", `tenant ${record.tenant} is suspended`);
    if (record.rateLimit) {
      const refused = await spendToken(c.env, record.tenant, record.rateLimit, now);
      if (refused !== undefined) {
        throw fail("rate-limited", "this tenant's request rate is over its limit", { retryAfter: refused });
      }
    }
    c.set("corsOrigins", record.corsOrigins);
    if (found && (record.lastUsedAt === null || now - record.lastUsedAt > LAST_USED_GRANULARITY_MS)) {
      cache.set(keyId, { ...found, standing: { ...record, lastUsedAt: now } }, now);
      c.executionCtx.waitUntil(
        c.env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(now, keyId).run(),
      );
    }
    c.set("tenant", record.tenant);
    c.set("keyId", keyId);
    // Every tenant has a ceiling on what it keeps in flight in one isolate, limit or not, so one
    // tenant's flood cannot queue the isolate's work behind it; over it the answer costs no more.
    const maxInFlight = hostConfig(c.env, "edge").tenantMaxInFlight;
    if (!tenantsInFlight.tryEnter(record.tenant, maxInFlight)) {
      throw fail("overloaded", `${maxInFlight} requests of this tenant are already in flight`, {
        retryAfter: SHED_RETRY_AFTER_S,
      });
    }
    try {
      await next();
    } finally {
      tenantsInFlight.leave(record.tenant);
    }
  };
}

/**
 * The key's standing: this isolate's copy while within the bound (refreshed behind past half of
 * it), else a fresh D1 read — unless the key id is known not to exist (undefined, no query) or
 * the client is blocked for failing too often ("blocked").
 */
async function lookup(
  db: D1Database,
  keyId: string,
  client: string,
  now: number,
  maxStaleMs: number,
  background: (p: Promise<unknown>) => void,
): Promise<CachedStanding | undefined | "blocked"> {
  const cached = cache.get(keyId, now);
  if (cached) {
    const state = freshness(cached, now, maxStaleMs);
    if (state === "fresh") return cached;
    if (state === "refresh-behind") {
      if (!reading.has(keyId)) background(read(db, keyId).catch(() => undefined));
      return cached;
    }
  }
  if (unknownKeys.get(keyId, now)) return undefined;
  // A blocked client's keys already cached above still authenticate; new ones are not looked up.
  if (!cached && isBlocked(client, now)) return "blocked";
  return read(db, keyId);
}

function read(db: D1Database, keyId: string): Promise<CachedStanding | undefined> {
  let pending = reading.get(keyId);
  if (!pending) {
    pending = readOnce(db, keyId).finally(() => reading.delete(keyId));
    reading.set(keyId, pending);
  }
  return pending;
}

async function readOnce(db: D1Database, keyId: string): Promise<CachedStanding | undefined> {
  keyLookupCount.value++;
  const started = Date.now();
  const generation = admissionGeneration();
  faultPoint("tenant.lookup");
  const row = await db.prepare(KEY_STANDING_SQL).bind(keyId).first<KeyStandingRow>();
  if (!row) {
    cache.delete(keyId);
    unknownKeys.set(keyId, true, started);
    return undefined;
  }
  const standing: KeyStanding = standingFromRow(row);
  // Dated from before the read, with the generation then: a change made here while the read was
  // in flight leaves the copy expired for the next request.
  const entry: CachedStanding = { standing, fetchedAt: started, generation };
  cache.set(keyId, entry, started);
  return entry;
}

/**
 * Whether `apiKey` is the key whose digest is `hash`: once a key has matched, this isolate keeps
 * it and compares the next presentation with it directly (constant time), so a known key costs
 * no SHA-256 per request. Revocation is not decided here but by the key's standing.
 */
async function secretMatches(keyId: string, apiKey: string, hash: string): Promise<boolean> {
  const known = verifiedKeys.get(keyId, Date.now());
  const presented = utf8.encode(apiKey);
  if (known !== undefined && known.hash === hash) return constantTimeEqual(presented, known.key);
  if (!constantTimeEqual(utf8.encode(await sha256Hex(apiKey)), utf8.encode(hash))) return false;
  verifiedKeys.set(keyId, { key: presented, hash }, Date.now());
  return true;
}

/**
 * Spends one of `tenant`'s rate-limit tokens, leasing a batch from its gate when this isolate has
 * none left; undefined when spent, else the seconds to wait (Retry-After).
 */
async function spendToken(env: Env, tenant: string, limit: RateLimit, now: number): Promise<number | undefined> {
  const key = limitKey(limit);
  const held = leases.get(tenant, now);
  if (held && held.limit === key && held.expiresAt > now && held.tokens > 0) {
    held.tokens--;
    return undefined;
  }
  gateLeaseCount.value++;
  const gate = tenantGateStub(env, tenant);
  const granted = await gate.lease(tenant, limit, leaseSize(limit));
  if (granted.granted < 1) return granted.retryAfter;
  // Tokens another request of this isolate leased meanwhile are kept, not dropped.
  const other = leases.get(tenant, Date.now());
  const carried = other && other.limit === key && other.expiresAt > now ? other.tokens : 0;
  leases.set(tenant, { tokens: carried + granted.granted - 1, limit: key, expiresAt: now + LEASE_TTL_MS }, now);
  return undefined;
}

/**
 * A well-formed key failed (unknown, revoked or wrong secret): counted against the client in the
 * AUTH_FAILURES rate-limit binding; over the limit the answer is 429 and the client makes no D1
 * lookup until the block lapses.
 */
async function failed(env: Env, client: string, now: number): Promise<ProblemError> {
  return (await recordFailure(env.AUTH_FAILURES, client, now)) === "limited" ? failuresLimited() : unauthorized();
}

function failuresLimited(): ProblemError {
  return fail("auth-failures-limited", "too many requests with an invalid API key from this client", {
    retryAfter: AUTH_FAILURE_PERIOD_S,
  });
}

function constantTimeEqual(x: Uint8Array, y: Uint8Array): boolean {
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}

function unauthorized(): ProblemError {
  return fail(
    "unauthorized",
    "send Authorization: Bearer <tenant api key>",
    {},
    { "www-authenticate": 'Bearer realm="factline"' },
  );
}
