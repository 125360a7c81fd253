// Tenant administration as plain operations over D1: create a tenant with its first key, issue
// and revoke keys, suspend and resume. Keys are random, returned once, stored only as digests.
import { and, desc, eq, sql } from "drizzle-orm";
import { issueApiKey } from "../../src/core/security/api-key.js";
import type { Db } from "../../src/core/model/projection.js";
import { apiKeys, tenants } from "../schema.js";

type Tenant = typeof tenants.$inferSelect;

/** The tenant row with this id, if any. */
export async function findTenant(db: Db, id: string): Promise<Tenant | undefined> {
  return (await db.select().from(tenants).where(eq(tenants.id, id)).limit(1))[0];
}

/** A tenant's keys, newest first: ids and times only (never the digest). */
export function listKeys(db: Db, tenant: string) {
  return db
    .select({
      keyId: apiKeys.id,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
      lastUsedAt: apiKeys.lastUsedAt,
    })
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenant))
    .orderBy(desc(apiKeys.createdAt));
}

export type CreateTenantOutcome =
  | { readonly ok: true; readonly tenant: Tenant; readonly keyId: string; readonly apiKey: string }
  | { readonly ok: false; readonly reason: "exists" };

export async function createTenant(db: Db, id: string, name: string): Promise<CreateTenantOutcome> {
  const key = await issueApiKey();
  const now = Date.now();
  const tenant: Tenant = {
    id,
    name,
    status: "active",
    createdAt: now,
    rateLimitRps: null,
    rateLimitBurst: null,
    corsOrigins: [],
    policyVersion: 0,
  };
  try {
    await db.batch([
      db.insert(tenants).values(tenant),
      db.insert(apiKeys).values({ id: key.keyId, tenantId: id, keyHash: key.hash, createdAt: now }),
    ]);
  } catch (error) {
    if (String(error).includes("UNIQUE") || String(error).includes("PRIMARY KEY"))
      return { ok: false, reason: "exists" };
    throw error;
  }
  return { ok: true, tenant, keyId: key.keyId, apiKey: key.apiKey };
}

export async function issueKey(db: Db, tenant: string): Promise<{ keyId: string; apiKey: string }> {
  const key = await issueApiKey();
  await db.insert(apiKeys).values({ id: key.keyId, tenantId: tenant, keyHash: key.hash, createdAt: Date.now() });
  return { keyId: key.keyId, apiKey: key.apiKey };
}

/** Revokes one of the tenant's keys (and raises its policy version with it); false if the tenant has no such key. */
export async function revokeKey(db: Db, tenant: string, keyId: string): Promise<boolean> {
  const key = (
    await db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenant)))
      .limit(1)
  )[0];
  if (!key) return false;
  if (key.revokedAt === null) {
    await db.batch([
      db.update(apiKeys).set({ revokedAt: Date.now() }).where(eq(apiKeys.id, key.id)),
      db.update(tenants).set(nextPolicyVersion).where(eq(tenants.id, tenant)),
    ]);
  }
  return true;
}

/** The updated tenant, or undefined if there is no such tenant. */
export async function setTenantStatus(
  db: Db,
  tenant: string,
  status: "active" | "suspended",
): Promise<Tenant | undefined> {
  return (
    await db
      .update(tenants)
      .set({ status, ...nextPolicyVersion })
      .where(eq(tenants.id, tenant))
      .returning()
  )[0];
}

/**
 * Spread into every update of a tenant's policy: the version rises in the same statement as the
 * change, so D1's order of writes is the order the gate applies them in.
 */
export const nextPolicyVersion = { policyVersion: sql`${tenants.policyVersion} + 1` };
