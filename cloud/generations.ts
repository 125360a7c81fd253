// Projection generations per tenant: the one that serves reads, and the one a rebuild is filling.
import { and, eq, sql } from "drizzle-orm";
import type { Db } from "./projection.js";
import { projectionGenerations as g } from "./schema.js";

export interface Generations {
  readonly active: number;
  readonly building: number | null;
}

const NONE: Generations = { active: 0, building: null };

export async function readGenerations(db: Db, pairs: readonly { projection: string; tenant: string }[]): Promise<Map<string, Generations>> {
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

export function generationsOf(map: Map<string, Generations>, projection: string, tenant: string): Generations {
  return map.get(`${projection}|${tenant}`) ?? NONE;
}

/** Every generation that facts must be applied to right now. */
export function liveGenerations(gens: Generations): number[] {
  return gens.building === null ? [gens.active] : [gens.active, gens.building];
}

export async function activeGeneration(db: Db, projection: string, tenant: string): Promise<number> {
  const row = (await db.select({ active: g.active }).from(g).where(and(eq(g.projection, projection), eq(g.tenantId, tenant))).limit(1))[0];
  return row?.active ?? 0;
}
