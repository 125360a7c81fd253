// What the dashboard shows, read from D1 (and the rebuilder objects): tenants with their keys,
// projection lag and rebuilds, the view rows, and the overview that the live stream re-sends,
// including the sagas that need an operator and the circuit breakers that are not closed.
import { and, count, desc, eq, isNull, like, ne } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Db, Projection } from "../../src/core/model/projection.js";
import { activeGeneration } from "../projections/generations.js";
import { projectionLag } from "../projections/projection-lag.js";
import type { RebuildStart, RebuildStatus } from "../projections/projection-rebuilder.js";
import { viewPage } from "../projections/view-page.js";
import { circuitBreakers, deadLetters, sagaInstances, tenants } from "../schema.js";
import { readTenantMetrics, type TenantMetrics } from "../metrics/tenant-metrics.js";
import { rebuilderStub } from "../stubs.js";

export type TenantRow = typeof tenants.$inferSelect;

export async function listTenants(db: Db): Promise<TenantRow[]> {
  return db.select().from(tenants).orderBy(desc(tenants.createdAt)).limit(500);
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
export async function projectionStatus(
  env: Env,
  db: Db,
  projections: readonly Projection[],
  tenant: string,
): Promise<ProjectionStatus[]> {
  return Promise.all(
    projections.map(async (p) => {
      const [lag, rebuild] = await Promise.all([
        projectionLag(db, p, tenant),
        rebuilderFor(env, p.name, tenant).status(),
      ]);
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
  return rebuilderStub(env, projection, tenant);
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
  readonly items: readonly { readonly kind: string; readonly name: string; readonly detail: string }[];
}

/**
 * Sagas of this tenant that escalated to an operator, and this tenant's circuit breakers that are
 * not closed. A per-tenant breaker is named `<dependency>:<tenant>` (the payment gateway's is
 * `payment-gateway:{tenant}`); another tenant's breaker names its tenant and its last error, so
 * only the tenant's own are shown (the operator sees every breaker at /admin/breakers). Both
 * read the D1 index that the saga and breaker objects keep.
 */
export async function attention(env: Env, tenant: string, kind: "sagas" | "breakers"): Promise<Attention> {
  const db: Db = drizzle(env.DB);
  if (kind === "sagas") {
    const rows = await db
      .select()
      .from(sagaInstances)
      .where(and(eq(sagaInstances.tenantId, tenant), eq(sagaInstances.status, "attention")))
      .orderBy(desc(sagaInstances.updatedAt))
      .limit(50);
    return { items: rows.map((r) => ({ kind: r.saga, name: r.id, detail: r.error ?? r.reason ?? "needs attention" })) };
  }
  // Tenant ids are [a-z0-9-], so the id holds no LIKE wildcard.
  const rows = await db
    .select()
    .from(circuitBreakers)
    .where(and(ne(circuitBreakers.status, "closed"), like(circuitBreakers.name, `%:${tenant}`)))
    .limit(50);
  return { items: rows.map((r) => ({ kind: r.status, name: r.name, detail: r.lastReason ?? "" })) };
}

export interface Overview {
  readonly metrics: TenantMetrics;
  readonly deadLetters: number;
  readonly projections: readonly ProjectionStatus[];
  readonly sagas: Attention;
  readonly breakers: Attention;
}

export async function overview(
  env: Env,
  db: Db,
  projections: readonly Projection[],
  tenant: string,
): Promise<Overview> {
  const [metrics, letters, status, sagas, breakers] = await Promise.all([
    readTenantMetrics(db, tenant, 30),
    db
      .select({ n: count() })
      .from(deadLetters)
      .where(and(eq(deadLetters.tenantId, tenant), isNull(deadLetters.replayedAt))),
    projectionStatus(env, db, projections, tenant),
    attention(env, tenant, "sagas"),
    attention(env, tenant, "breakers"),
  ]);
  return { metrics, deadLetters: letters[0]?.n ?? 0, projections: status, sagas, breakers };
}

export async function viewRows(db: Db, projections: readonly Projection[], tenant: string): Promise<ViewRows[]> {
  return Promise.all(
    projections.map(async (p) => {
      const scope = { tenant, generation: await activeGeneration(db, p.name, tenant) };
      // The API's first page (one row more is listed, so it knows whether more follow).
      const rows = await p.list(db, scope, {}, DASHBOARD_VIEW_ROWS + 1);
      const page = viewPage(rows, DASHBOARD_VIEW_ROWS, p.key, undefined);
      return { name: p.name, rows: page.items, more: page.next !== null };
    }),
  );
}

/** The rows of a view the dashboard shows: its first ones in key order, and whether more follow. */
export interface ViewRows {
  readonly name: string;
  readonly rows: unknown[];
  readonly more: boolean;
}

const DASHBOARD_VIEW_ROWS = 50;
