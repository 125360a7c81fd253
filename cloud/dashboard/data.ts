// What the dashboard shows, read from D1 (and the rebuilder objects): tenants with their keys,
// projection lag and rebuilds, the view rows, the overview that the live stream re-sends, the
// circuit breakers that are not closed and the sagas that need an operator, in pages.
import { and, count, desc, eq, isNull, like, ne } from "drizzle-orm";
import type { Db, Projection } from "../../src/core/model/projection.js";
import { activeGeneration } from "../projections/generations.js";
import { projectionLag } from "../projections/projection-lag.js";
import type { RebuildStart, RebuildStatus } from "../projections/projection-rebuilder.js";
import { viewPage } from "../projections/view-page.js";
import { circuitBreakers, deadLetters, tenants } from "../schema.js";
import { type SagaListPosition, sagaPage } from "../sagas/saga-list.js";
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
 * This tenant's circuit breakers that are not closed. A per-tenant breaker is named
 * `<dependency>:<tenant>` (the payment gateway's is `payment-gateway:{tenant}`); another tenant's
 * breaker names its tenant and its last error, so only the tenant's own are shown (the operator
 * sees every breaker at /admin/breakers). Read from the D1 index that the breaker objects keep.
 */
export async function openBreakers(db: Db, tenant: string): Promise<Attention> {
  // Tenant ids are [a-z0-9-], so the id holds no LIKE wildcard.
  const rows = await db
    .select()
    .from(circuitBreakers)
    .where(and(ne(circuitBreakers.status, "closed"), like(circuitBreakers.name, `%:${tenant}`)))
    .limit(50);
  return { items: rows.map((r) => ({ kind: r.status, name: r.name, detail: r.lastReason ?? "" })) };
}

/**
 * A page of the sagas needing attention, and the cursor of the page after it (null on the last);
 * each with the tasks whose compensation the operator may resolve (`resolvableTasks`).
 */
export interface SagasNeedingAttention extends Attention {
  readonly items: readonly (Attention["items"][number] & { readonly resolvable: readonly string[] })[];
  readonly next: string | null;
}

/** How many sagas needing attention a page of the overview shows. */
export const DASHBOARD_SAGAS = 50;

/**
 * A page of this tenant's sagas that escalated to an operator, in the admin API's order for them
 * (`GET /admin/sagas?status=attention&tenant=`): newest first by `createdAt`, ties by id, with its
 * cursors. That key is written once, so a saga keeps its place while it waits, however often it
 * is retried and escalates again (each time a new `updatedAt`, by which the list was once ordered
 * and moved under the operator), and paging on from a page never lists a saga twice. It reads
 * along `saga_instances_by_tenant`, never sorting the tenant's sagas.
 */
export async function sagasNeedingAttention(
  db: Db,
  tenant: string,
  after?: SagaListPosition,
): Promise<SagasNeedingAttention> {
  const page = await sagaPage(db, { tenant, status: "attention", limit: DASHBOARD_SAGAS, after });
  return {
    items: page.items.map((r) => ({
      kind: r.saga,
      name: r.id,
      detail: r.error ?? r.reason ?? "needs attention",
      resolvable: r.resolvable,
    })),
    next: page.next,
  };
}

export interface Overview {
  readonly metrics: TenantMetrics;
  readonly deadLetters: number;
  readonly projections: readonly ProjectionStatus[];
}

export async function overview(
  env: Env,
  db: Db,
  projections: readonly Projection[],
  tenant: string,
): Promise<Overview> {
  const [metrics, letters, status] = await Promise.all([
    readTenantMetrics(db, tenant, 30),
    db
      .select({ n: count() })
      .from(deadLetters)
      .where(and(eq(deadLetters.tenantId, tenant), isNull(deadLetters.replayedAt))),
    projectionStatus(env, db, projections, tenant),
  ]);
  return { metrics, deadLetters: letters[0]?.n ?? 0, projections: status };
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
