// How far a projection is behind the facts the cloud tier has received, per tenant: facts not yet
// applied, and how long the newest of them has waited (a lower bound on the oldest one's wait).
// Facts still in an entity's outbox or in flight in the queue show up at the edge, as its backlog.
import { sql } from "drizzle-orm";
import type { Db, Projection } from "../../src/core/model/projection.js";

export interface ProjectionLag {
  readonly tenant: string;
  readonly entities: number;
  readonly factsBehind: number;
  readonly secondsBehind: number;
}

export async function projectionLag(db: Db, projection: Projection, tenant: string | null): Promise<ProjectionLag[]> {
  const types = JSON.stringify(projection.follows);
  const rows = await db.all<{ tenant: string; entities: number; behind: number | null; oldest: number | null }>(sql`
    SELECT h.tenant_id AS tenant, count(*) AS entities,
           sum(max(h.seq - coalesce(c.seq, 0), 0)) AS behind,
           min(CASE WHEN h.seq > coalesce(c.seq, 0) THEN h.recorded_at END) AS oldest
      FROM entity_heads h
      LEFT JOIN projection_generations g ON g.projection = ${projection.name} AND g.tenant_id = h.tenant_id
      LEFT JOIN projection_checkpoints c
        ON c.projection = ${projection.name} AND c.generation = coalesce(g.active, 0)
       AND c.tenant_id = h.tenant_id AND c.entity_type = h.entity_type AND c.entity_id = h.entity_id
     WHERE h.entity_type IN (SELECT value FROM json_each(${types}))
       AND (${tenant} IS NULL OR h.tenant_id = ${tenant})
     GROUP BY h.tenant_id
     ORDER BY h.tenant_id`);
  const now = Date.now();
  return rows.map((r) => ({
    tenant: r.tenant,
    entities: r.entities,
    factsBehind: r.behind ?? 0,
    secondsBehind: r.oldest === null ? 0 : Math.max(0, Math.round((now - r.oldest) / 100) / 10),
  }));
}
