// Admits /v1 requests: `Authorization: Bearer <tenant api key>` decides the tenant. Keys are
// looked up by id in D1 and compared by digest in constant time; a suspended tenant is refused.
// Verified keys are cached per isolate for a few seconds, which bounds how long a revoked key
// or a suspension takes to bite everywhere (stated in the README).
import type { MiddlewareHandler } from "hono";
import { apiKeyId, sha256Hex } from "../src/core/api-key.js";
import { problem, problemResponse } from "../src/core/problem.js";
import type { RequestScope } from "../src/core/request-scope.js";

const CACHE_TTL_MS = 5_000;
const LAST_USED_GRANULARITY_MS = 60_000;

interface KeyRecord {
  readonly tenant: string;
  readonly hash: string;
  readonly status: string;
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
    if (record.status !== "active") {
      return problemResponse(problem("tenant-suspended", `tenant ${record.tenant} is suspended`));
    }
    if (record.lastUsedAt === null || now - record.lastUsedAt > LAST_USED_GRANULARITY_MS) {
      cache.set(keyId, { ...record, lastUsedAt: now });
      c.executionCtx.waitUntil(
        c.env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(now, keyId).run(),
      );
    }
    c.set("tenant", record.tenant);
    await next();
  };
}

async function lookup(db: D1Database, keyId: string, now: number): Promise<KeyRecord | undefined> {
  const cached = cache.get(keyId);
  if (cached && now - cached.fetchedAt < CACHE_TTL_MS) return cached;
  const row = await db
    .prepare(
      `SELECT k.tenant_id AS tenant, k.key_hash AS hash, k.revoked_at AS revokedAt, k.last_used_at AS lastUsedAt,
              t.status AS status
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?`,
    )
    .bind(keyId)
    .first<{ tenant: string; hash: string; revokedAt: number | null; lastUsedAt: number | null; status: string }>();
  if (!row) {
    cache.delete(keyId);
    return undefined;
  }
  const record: KeyRecord = {
    tenant: row.tenant,
    hash: row.hash,
    status: row.status,
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
