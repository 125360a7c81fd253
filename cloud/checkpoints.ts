// Per (projection, entity) checkpoints: the last sequence number applied. Reads fetch a whole
// batch's checkpoints in one indexed query; the advance is a guard statement that makes the
// D1 batch it belongs to fail (and roll back) if another consumer moved the checkpoint first,
// so concurrent consumers can never apply the same fact twice.
import { and, eq, sql } from "drizzle-orm";
import type { Db, Statement } from "./projection.js";
import { projectionCheckpoints as cp } from "./schema.js";

export interface CheckpointKey {
  readonly projection: string;
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
}

export function checkpointId(k: CheckpointKey): string {
  return `${k.projection}|${k.tenant}|${k.entityType}|${k.entityId}`;
}

/** Applied sequence per checkpoint id; missing means nothing applied yet (0). */
export async function readCheckpoints(db: Db, keys: readonly CheckpointKey[]): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  if (keys.length === 0) return result;
  // One bound parameter whatever the batch size (D1 allows 100 per statement).
  const wanted = JSON.stringify(keys.map((k) => [k.projection, k.tenant, k.entityType, k.entityId]));
  const rows = await db.all<{ projection: string; tenant_id: string; entity_type: string; entity_id: string; seq: number }>(sql`
    SELECT c.projection, c.tenant_id, c.entity_type, c.entity_id, c.seq
      FROM json_each(${wanted}) AS j
      JOIN ${cp} AS c
        ON c.projection = j.value ->> 0 AND c.tenant_id = j.value ->> 1
       AND c.entity_type = j.value ->> 2 AND c.entity_id = j.value ->> 3`);
  for (const r of rows) {
    result.set(checkpointId({ projection: r.projection, tenant: r.tenant_id, entityType: r.entity_type, entityId: r.entity_id }), r.seq);
  }
  return result;
}

/** Moves a checkpoint from `from` to `to`; fails its batch if it was not at `from`. */
export function advanceCheckpoint(db: Db, k: CheckpointKey, from: number, to: number, recordedAt: number): Statement {
  const now = Date.now();
  if (from === 0) {
    // A plain insert: the primary key refuses it if another consumer got there first.
    return db.insert(cp).values({
      projection: k.projection,
      tenantId: k.tenant,
      entityType: k.entityType,
      entityId: k.entityId,
      seq: to,
      recordedAt,
      appliedAt: now,
    });
  }
  // seq is NOT NULL: a checkpoint found elsewhere than `from` turns into a constraint failure.
  return db
    .update(cp)
    .set({ seq: sql`CASE WHEN ${cp.seq} = ${from} THEN ${to} ELSE NULL END`, recordedAt, appliedAt: now })
    .where(
      and(eq(cp.projection, k.projection), eq(cp.tenantId, k.tenant), eq(cp.entityType, k.entityType), eq(cp.entityId, k.entityId)),
    );
}
