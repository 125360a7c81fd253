// Admits /v1 requests: `Authorization: Bearer <tenant api key>` decides the tenant. Keys are
// looked up by id in D1 and compared by digest in constant time. The key → tenant record is
// cached per isolate for a few seconds (it never changes, except by revocation), a key id with no
// record for 30 s, and failed attempts are rate limited per client (AUTH_FAILURES), so a flood
// of bad keys costs neither a D1 query each nor unbounded memory; whether the
// tenant may run — suspension, revocation, its rate limit — is asked of the tenant's gate object
// on every request, so those bite at once in every isolate.
import type { MiddlewareHandler } from "hono";
import { apiKeyId, sha256Hex } from "../../src/core/security/api-key.js";
import { AUTH_FAILURE_PERIOD_S, failingClient, isBlocked, recordFailure } from "../../src/core/security/auth-failures.js";
import { ExpiringCache } from "../../src/core/runtime/expiring-cache.js";
import { problem, problemResponse } from "../../src/core/http/problem.js";
import type { RequestScope } from "../../src/core/http/request-scope.js";
import { tenantGateStub } from "../stubs.js";

const CACHE_TTL_MS = 5_000;
const CACHE_CAPACITY = 10_000;
// Key ids no record has: their lookups are not repeated for this long. A key id is 64 random
// bits chosen at issue, so no client can present an id before it exists and see it cached.
const NEGATIVE_TTL_MS = 30_000;
const NEGATIVE_CAPACITY = 10_000;
const LAST_USED_GRANULARITY_MS = 60_000;

interface KeyRecord {
  readonly tenant: string;
  readonly hash: string;
  readonly revoked: boolean;
  readonly lastUsedAt: number | null;
  readonly fetchedAt: number;
}

const cache = new ExpiringCache<string, KeyRecord>(CACHE_CAPACITY, CACHE_TTL_MS);
const unknownKeys = new ExpiringCache<string, true>(NEGATIVE_CAPACITY, NEGATIVE_TTL_MS);

/** Observation seam for tests: D1 key lookups this isolate has made. */
export const keyLookupCount = { value: 0 };

export function tenantAuth(): MiddlewareHandler<{ Bindings: Env; Variables: RequestScope }> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const apiKey = match?.[1];
    const keyId = apiKey ? apiKeyId(apiKey) : undefined;
    // Without a well-formed key nothing is looked up, so nothing is worth limiting.
    if (!apiKey || !keyId) return unauthorized();

    const now = Date.now();
    const client = failingClient(c.req.raw);
    const record = await lookup(c.env.DB, keyId, client, now);
    if (record === "blocked") return failuresLimited();
    const digest = await sha256Hex(apiKey);
    if (!record || record.revoked || !constantTimeEqual(digest, record.hash)) return failed(c.env, client, now);
    const gate = tenantGateStub(c.env, record.tenant);
    const admission = await gate.admit(record.tenant, keyId);
    if (!admission.admitted) {
      switch (admission.reason) {
        case "suspended":
          return problemResponse(problem("tenant-suspended", `tenant ${record.tenant} is suspended`));
        case "rate-limited":
          return problemResponse(problem("rate-limited", "this tenant's request rate is over its limit", { retryAfter: admission.retryAfter }));
        default:
          return failed(c.env, client, now);
      }
    }
    c.set("corsOrigins", admission.corsOrigins);
    if (record.lastUsedAt === null || now - record.lastUsedAt > LAST_USED_GRANULARITY_MS) {
      cache.set(keyId, { ...record, lastUsedAt: now }, record.fetchedAt);
      c.executionCtx.waitUntil(
        c.env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(now, keyId).run(),
      );
    }
    c.set("tenant", record.tenant);
    c.set("keyId", keyId);
    await next();
  };
}

/**
 * The key's record: from this isolate's cache, else from D1 — unless the key id is known not to
 * exist (undefined, no query) or the client is blocked for failing too often ("blocked").
 */
async function lookup(db: D1Database, keyId: string, client: string, now: number): Promise<KeyRecord | undefined | "blocked"> {
  const cached = cache.get(keyId, now);
  if (cached) return cached;
  if (unknownKeys.get(keyId, now)) return undefined;
  // A blocked client's keys already cached above still authenticate; new ones are not looked up.
  if (isBlocked(client, now)) return "blocked";
  keyLookupCount.value++;
  const row = await db
    .prepare(
      `SELECT k.tenant_id AS tenant, k.key_hash AS hash, k.revoked_at AS revokedAt, k.last_used_at AS lastUsedAt
         FROM api_keys k WHERE k.id = ?`,
    )
    .bind(keyId)
    .first<{ tenant: string; hash: string; revokedAt: number | null; lastUsedAt: number | null }>();
  if (!row) {
    cache.delete(keyId);
    unknownKeys.set(keyId, true, now);
    return undefined;
  }
  const record: KeyRecord = {
    tenant: row.tenant,
    hash: row.hash,
    revoked: row.revokedAt !== null,
    lastUsedAt: row.lastUsedAt,
    fetchedAt: now,
  };
  cache.set(keyId, record, now);
  return record;
}

/**
 * A well-formed key failed (unknown, revoked or wrong secret): counted against the client in the
 * AUTH_FAILURES rate-limit binding; over the limit the answer is 429 and the client makes no D1
 * lookup until the block lapses.
 */
async function failed(env: Env, client: string, now: number): Promise<Response> {
  return (await recordFailure(env.AUTH_FAILURES, client, now)) === "limited" ? failuresLimited() : unauthorized();
}

function failuresLimited(): Response {
  return problemResponse(
    problem("auth-failures-limited", "too many requests with an invalid API key from this client", { retryAfter: AUTH_FAILURE_PERIOD_S }),
  );
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}

function unauthorized(): Response {
  return problemResponse(problem("unauthorized", "send Authorization: Bearer <tenant api key>"), {
    "www-authenticate": 'Bearer realm="factline"',
  });
}
