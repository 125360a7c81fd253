// What the dashboard shows, read from D1 (and the rebuilder objects): tenants with their keys,
// projection lag and rebuilds, the view rows, and the overview that the live stream re-sends. Sagas and circuit breakers are read
// through `attention`, which answers "not available" until those features are mounted.
import { and, count, desc, eq, isNull } from "drizzle-orm";
import type { Db } from "../projection.js";
import { projections } from "../projections/index.js";
import { activeGeneration } from "../generations.js";
import { projectionLag } from "../projection-lag.js";
import type { RebuildStart, RebuildStatus } from "../projection-rebuilder.js";
import { apiKeys, deadLetters, tenants } from "../schema.js";
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
  /** Facts the cloud tier has received for this tenant but the projection has not applied. */
  readonly factsBehind: number;
  readonly secondsBehind: number;
  /** The rebuild in progress, if any. */
  readonly rebuild: RebuildStatus | null;
}

/** Lag and rebuild progress of each projection for one tenant. */
export async function projectionStatus(env: Env, db: Db, tenant: string): Promise<ProjectionStatus[]> {
  return Promise.all(
    projections.map(async (p) => {
      const [lag, rebuild] = await Promise.all([projectionLag(db, p, tenant), rebuilderFor(env, p.name, tenant).status()]);
      const mine = lag.find((l) => l.tenant === tenant);
      return {
        name: p.name,
        follows: p.follows,
        entities: mine?.entities ?? 0,
        factsBehind: mine?.factsBehind ?? 0,
        secondsBehind: mine?.secondsBehind ?? 0,
        rebuild: rebuild ?? null,
      };
    }),
  );
}

/** Starts rebuilding one projection for one tenant; null if there is no such projection. */
export function startRebuild(env: Env, projection: string, tenant: string): Promise<RebuildStart | null> {
  return rebuilderFor(env, projection, tenant).start(projection, tenant);
}

function rebuilderFor(env: Env, projection: string, tenant: string) {
  return env.REBUILDER.get(env.REBUILDER.idFromName(`${projection}:${tenant}`));
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
    projectionStatus(env, db, tenant),
    attention(env, tenant, "sagas"),
    attention(env, tenant, "breakers"),
  ]);
  return { metrics, deadLetters: letters[0]?.n ?? 0, projections: status, sagas, breakers };
}

export async function viewRows(db: Db, tenant: string): Promise<{ name: string; rows: unknown[] }[]> {
  return Promise.all(
    projections.map(async (p) => {
      const scope = { tenant, generation: await activeGeneration(db, p.name, tenant) };
      return { name: p.name, rows: await p.list(db, scope, {}, 50) };
    }),
  );
}
