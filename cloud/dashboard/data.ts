// What the dashboard shows, read from D1: tenants with their keys, projection progress, the
// view rows, and the overview that the live stream re-sends. Sagas and circuit breakers are read
// through `attention`, which answers "not available" until those features are mounted.
import { and, count, desc, eq, isNull, max, sql } from "drizzle-orm";
import type { Db } from "../projection.js";
import { projections } from "../projections/index.js";
import { apiKeys, deadLetters, projectionCheckpoints as cp, tenants } from "../schema.js";
import { readTenantMetrics, type TenantMetrics } from "../tenant-metrics.js";

export type TenantRow = typeof tenants.$inferSelect;

export async function listTenants(db: Db): Promise<TenantRow[]> {
  return db.select().from(tenants).orderBy(desc(tenants.createdAt)).limit(500);
}

export async function findTenant(db: Db, id: string): Promise<TenantRow | undefined> {
  return (await db.select().from(tenants).where(eq(tenants.id, id)).limit(1))[0];
}

export function listKeys(db: Db, tenant: string) {
  return db
    .select({ keyId: apiKeys.id, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenant))
    .orderBy(desc(apiKeys.createdAt));
}

export interface ProjectionStatus {
  readonly name: string;
  readonly follows: readonly string[];
  readonly entities: number;
  readonly lastAppliedAt: number | null;
  /** Edge-to-view delay of the newest applied fact (ms). */
  readonly lastLagMs: number | null;
}

/**
 * Progress of each projection for one tenant, from its checkpoints.
 * Hook: when projection rebuild and true lag land on main, extend this with their status.
 */
export async function projectionStatus(db: Db, tenant: string): Promise<ProjectionStatus[]> {
  const rows = await db
    .select({
      projection: cp.projection,
      entities: count(),
      lastAppliedAt: max(cp.appliedAt),
      lastLagMs: sql<number | null>`(SELECT c2.applied_at - c2.recorded_at FROM ${cp} c2
        WHERE c2.projection = ${cp.projection} AND c2.tenant_id = ${tenant} ORDER BY c2.applied_at DESC LIMIT 1)`,
    })
    .from(cp)
    .where(eq(cp.tenantId, tenant))
    .groupBy(cp.projection);
  const byName = new Map(rows.map((r) => [r.projection, r]));
  return projections.map((p) => {
    const r = byName.get(p.name);
    return { name: p.name, follows: p.follows, entities: r?.entities ?? 0, lastAppliedAt: r?.lastAppliedAt ?? null, lastLagMs: r?.lastLagMs ?? null };
  });
}

export function openDeadLetters(db: Db, tenant: string) {
  return db
    .select()
    .from(deadLetters)
    .where(and(eq(deadLetters.tenantId, tenant), isNull(deadLetters.replayedAt)))
    .orderBy(desc(deadLetters.createdAt))
    .limit(200);
}

/** Items an operator must look at that live outside this module (sagas, circuit breakers). */
export interface Attention {
  readonly available: boolean;
  readonly items: readonly { readonly kind: string; readonly name: string; readonly detail: string }[];
}

/**
 * Hook: the saga host (/admin/sagas) and the shared circuit breakers (/admin/breakers) are built
 * on other branches. Once merged, read their state here (D1 rows or their Durable Objects).
 */
export async function attention(_env: Env, _tenant: string, _kind: "sagas" | "breakers"): Promise<Attention> {
  return { available: false, items: [] };
}

export interface Overview {
  readonly metrics: TenantMetrics;
  readonly deadLetters: number;
  readonly projections: readonly ProjectionStatus[];
  readonly sagas: Attention;
  readonly breakers: Attention;
}

export async function overview(env: Env, db: Db, tenant: string): Promise<Overview> {
  const [metrics, letters, status, sagas, breakers] = await Promise.all([
    readTenantMetrics(db, tenant, 30),
    db.select({ n: count() }).from(deadLetters).where(and(eq(deadLetters.tenantId, tenant), isNull(deadLetters.replayedAt))),
    projectionStatus(db, tenant),
    attention(env, tenant, "sagas"),
    attention(env, tenant, "breakers"),
  ]);
  return { metrics, deadLetters: letters[0]?.n ?? 0, projections: status, sagas, breakers };
}

export async function viewRows(db: Db, tenant: string): Promise<{ name: string; rows: unknown[] }[]> {
  return Promise.all(projections.map(async (p) => ({ name: p.name, rows: await p.list(db, tenant, {}, 50) })));
}
