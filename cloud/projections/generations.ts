// Projection generations per tenant: the one that serves reads, and the one a rebuild is filling.
import { and, eq, sql } from "drizzle-orm";
import type { Db, Statement } from "../../src/core/model/projection.js";
import { projectionGenerations as g } from "../schema.js";

export interface Generations {
  readonly active: number;
  readonly building: number | null;
}

const NONE: Generations = { active: 0, building: null };

export async function readGenerations(
  db: Db,
  pairs: readonly { projection: string; tenant: string }[],
): Promise<Map<string, Generations>> {
  const result = new Map<string, Generations>();
  if (pairs.length === 0) return result;
  const wanted = JSON.stringify(pairs.map((p) => [p.projection, p.tenant]));
  const rows = await db.all<{ projection: string; tenant_id: string; active: number; building: number | null }>(sql`
    SELECT g.projection, g.tenant_id, g.active, g.building
      FROM json_each(${wanted}) AS j
      JOIN ${g} AS g ON g.projection = j.value ->> 0 AND g.tenant_id = j.value ->> 1`);
  for (const r of rows) result.set(`${r.projection}|${r.tenant_id}`, { active: r.active, building: r.building });
  return result;
}

/** A (projection, tenant) pair with the generations a writer read for it. */
export interface GenerationsRead {
  readonly projection: string;
  readonly tenant: string;
  readonly gens: Generations;
}

/**
 * One statement that makes the D1 batch it belongs to fail (and roll back) unless every pair
 * still has the generations the writer read. A consumer that read them before a rebuild started
 * would otherwise miss the new generation, and one that read them before a switch would write
 * orphan rows into a generation already cleared. A missing row is written as {active 0, no
 * rebuild}, which is what a missing row means. Throws nothing itself: the batch fails on the
 * NOT NULL constraint of `active`.
 */
export function generationsGuard(db: Db, reads: readonly GenerationsRead[]): Statement {
  const rows = JSON.stringify(reads.map((r) => [r.projection, r.tenant, r.gens.active, r.gens.building]));
  // Columns in the table's order; `WHERE true` tells SQLite's parser that the ON CONFLICT belongs
  // to the INSERT, not to the SELECT.
  return db
    .insert(g)
    .select(
      sql`SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, NULL, NULL FROM json_each(${rows}) AS j WHERE true`,
    )
    .onConflictDoUpdate({
      target: [g.projection, g.tenantId],
      set: {
        active: sql`CASE WHEN ${g.active} = excluded.active AND ${g.building} IS excluded.building THEN ${g.active} ELSE NULL END`,
      },
    });
}

export function generationsOf(map: Map<string, Generations>, projection: string, tenant: string): Generations {
  return map.get(`${projection}|${tenant}`) ?? NONE;
}

/** Every generation that facts must be applied to right now. */
export function liveGenerations(gens: Generations): number[] {
  return gens.building === null ? [gens.active] : [gens.active, gens.building];
}

/** The generation that serves reads (0 when the pair has no row). */
export async function activeGeneration(db: Db, projection: string, tenant: string): Promise<number> {
  const row = (
    await db
      .select({ active: g.active })
      .from(g)
      .where(and(eq(g.projection, projection), eq(g.tenantId, tenant)))
      .limit(1)
  )[0];
  return row?.active ?? 0;
}
