// entity_heads: the newest fact the cloud tier has seen per entity. Projection lag is measured
// against it, and a rebuild lists the entities to replay from it.
import { sql } from "drizzle-orm";
import type { Db, Statement } from "../../src/core/model/projection.js";
import { entityHeads as h } from "../schema.js";

export interface EntityHead {
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly seq: number;
  /** When the fact at `seq` was recorded, epoch ms. */
  readonly recordedAt: number;
}

/**
 * One statement that raises every given head (never lowers one: facts arrive in any order),
 * whatever the count, so a consumer batch pays one statement for all its entities.
 */
export function recordHeads(db: Db, heads: readonly EntityHead[]): Statement {
  // One bound parameter whatever the count (D1 allows 100 per statement).
  const rows = JSON.stringify(heads.map((x) => [x.tenant, x.entityType, x.entityId, x.seq, x.recordedAt]));
  // Columns in the table's order; `WHERE true` tells SQLite's parser that the ON CONFLICT
  // belongs to the INSERT, not to the SELECT.
  return db
    .insert(h)
    .select(
      sql`SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4 FROM json_each(${rows}) AS j WHERE true`,
    )
    .onConflictDoUpdate({
      target: [h.tenantId, h.entityType, h.entityId],
      set: {
        recordedAt: sql`CASE WHEN excluded.seq > ${h.seq} THEN excluded.recorded_at ELSE ${h.recordedAt} END`,
        seq: sql`max(${h.seq}, excluded.seq)`,
      },
    });
}
