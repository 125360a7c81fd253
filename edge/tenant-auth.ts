// Admits /v1 requests: `Authorization: Bearer <tenant api key>` decides the tenant. Keys are
// looked up by id in D1 and compared by digest in constant time. The key → tenant record is
// cached per isolate for a few seconds (it never changes, except by revocation); whether the
// tenant may run — suspension, revocation, its rate limit — is asked of the tenant's gate object
// on every request, so those bite at once in every isolate.
import type { MiddlewareHandler } from "hono";
import { apiKeyId, sha256Hex } from "../src/core/api-key.js";
import { problem, problemResponse } from "../src/core/problem.js";
import type { RequestScope } from "../src/core/request-scope.js";
import { tenantGateName, type TenantGateRpc } from "../src/core/tenant-policy.js";

const CACHE_TTL_MS = 5_000;
const LAST_USED_GRANULARITY_MS = 60_000;

interface KeyRecord {
  readonly tenant: string;
  readonly hash: string;
  readonly revoked: boolean;
  readonly lastUsedAt: number | null;
  readonly fetchedAt: number;
}

const cache = new Map<string, KeyRecord>();

export function tenantAuth(): MiddlewareHandler<{ Bindings: Env; Variables: RequestScope }> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const apiKey = match?.[1];
    const keyId = apiKey ? apiKeyId(apiKey) : undefined;
    if (!apiKey || !keyId) return unauthorized();

    const now = Date.now();
    const record = await lookup(c.env.DB, keyId, now);
    const digest = await sha256Hex(apiKey);
    if (!record || record.revoked || !constantTimeEqual(digest, record.hash)) return unauthorized();
    const gate = c.env.TENANT_GATE.get(c.env.TENANT_GATE.idFromName(tenantGateName(record.tenant))) as unknown as TenantGateRpc;
    const admission = await gate.admit(record.tenant, keyId);
    if (!admission.admitted) {
      switch (admission.reason) {
        case "suspended":
          return problemResponse(problem("tenant-suspended", `tenant ${record.tenant} is suspended`));
        case "rate-limited":
          return problemResponse(problem("rate-limited", "this tenant's request rate is over its limit", { retryAfter: admission.retryAfter }));
        default:
          return unauthorized();
      }
    }
    c.set("corsOrigins", admission.corsOrigins);
    if (record.lastUsedAt === null || now - record.lastUsedAt > LAST_USED_GRANULARITY_MS) {
      cache.set(keyId, { ...record, lastUsedAt: now });
      c.executionCtx.waitUntil(
        c.env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(now, keyId).run(),
      );
    }
    c.set("tenant", record.tenant);
    c.set("keyId", keyId);
    await next();
  };
}

async function lookup(db: D1Database, keyId: string, now: number): Promise<KeyRecord | undefined> {
  const cached = cache.get(keyId);
  if (cached && now - cached.fetchedAt < CACHE_TTL_MS) return cached;
  const row = await db
    .prepare(
      `SELECT k.tenant_id AS tenant, k.key_hash AS hash, k.revoked_at AS revokedAt, k.last_used_at AS lastUsedAt
         FROM api_keys k WHERE k.id = ?`,
    )
    .bind(keyId)
    .first<{ tenant: string; hash: string; revokedAt: number | null; lastUsedAt: number | null }>();
  if (!row) {
    cache.delete(keyId);
    return undefined;
  }
  const record: KeyRecord = {
    tenant: row.tenant,
    hash: row.hash,
    revoked: row.revokedAt !== null,
    lastUsedAt: row.lastUsedAt,
    fetchedAt: now,
  };
  cache.set(keyId, record);
  return record;
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
