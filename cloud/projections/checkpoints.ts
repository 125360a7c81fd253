// Per (projection generation, entity) checkpoints: the last sequence number applied. Reads fetch
// a whole batch's checkpoints in one indexed query; the advance is a guard statement that makes
// the D1 batch it belongs to fail (and roll back) if another consumer moved the checkpoint first,
// so concurrent consumers can never apply the same fact twice.
import { and, eq, sql } from "drizzle-orm";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import { projectionCheckpoints as cp, sagaCheckpoints as sc } from "../schema.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { changeStatements } from "./view-changes.js";

export interface CheckpointKey {
  readonly projection: string;
  readonly generation: number;
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
}

export function checkpointId(k: CheckpointKey): string {
  return `${k.projection}|${k.generation}|${k.tenant}|${k.entityType}|${k.entityId}`;
}

/** Applied sequence per checkpoint id; missing means nothing applied yet (0). */
export async function readCheckpoints(db: Db, keys: readonly CheckpointKey[]): Promise<Map<string, number>> {
  return (await readProgress(db, keys, [])).applied;
}

/**
 * The statements that apply `events` (the contiguous facts after `from`) to one projection
 * generation: the checkpoint guard first, then each handler's statements.
 */
export function applyStatements(
  db: Db,
  projection: Projection,
  key: CheckpointKey,
  from: number,
  events: readonly RecordedEvent[],
): Statement[] {
  const last = events[events.length - 1];
  if (!last) return [];
  const statements = [advance(db, key, from, last.seq, Date.parse(last.meta.recordedAt))];
  // A fact of a type the projection has no handler for (one it does not follow, or one its entity
  // renamed or removed in code) changes nothing but the checkpoint, applied one by one or as a
  // run: `applyRun` is handed only facts of its handlers' types, as its typed facts promise.
  if (projection.applyRun) {
    const handled = events.filter((event) => Object.hasOwn(projection.on, event.type));
    return [
      ...statements,
      ...(handled.length > 0 ? projection.applyRun(db, handled, key.generation) : []),
      ...changeStatements(db, projection, key, events),
    ];
  }
  for (const event of events) {
    const handler = Object.hasOwn(projection.on, event.type) ? projection.on[event.type] : undefined;
    if (handler) statements.push(...handler(db, event, key.generation));
  }
  // The view's change feed, in the same batch (cloud/projections/view-changes.ts).
  return [...statements, ...changeStatements(db, projection, key, events)];
}

function advance(db: Db, k: CheckpointKey, from: number, to: number, recordedAt: number): Statement {
  const now = Date.now();
  if (from === 0) {
    // A plain insert: the primary key refuses it if another consumer got there first.
    return db.insert(cp).values({
      projection: k.projection,
      generation: k.generation,
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
      and(
        eq(cp.projection, k.projection),
        eq(cp.generation, k.generation),
        eq(cp.tenantId, k.tenant),
        eq(cp.entityType, k.entityType),
        eq(cp.entityId, k.entityId),
      ),
    );
}

function entityKey(a: EntityAddress): string {
  return `${a.tenant}|${a.entityType}|${a.entityId}`;
}

/**
 * What `readCheckpoints` reads, and how far the sagas have been handed each entity's log, in one
 * query (one D1 round trip for the consumer): projection checkpoints by checkpoint id, and the
 * sagas' checkpoints by `tenant|type|id` (missing: 0).
 */
export async function readProgress(
  db: Db,
  keys: readonly CheckpointKey[],
  addresses: readonly EntityAddress[],
): Promise<{ applied: Map<string, number>; delivered: Map<string, number> }> {
  const applied = new Map<string, number>();
  const delivered = new Map<string, number>();
  if (keys.length === 0 && addresses.length === 0) return { applied, delivered };
  const wantedCheckpoints = JSON.stringify(
    keys.map((k) => [k.projection, k.generation, k.tenant, k.entityType, k.entityId]),
  );
  const wantedSagas = JSON.stringify(addresses.map((a) => [a.tenant, a.entityType, a.entityId]));
  const rows = await db.all<{
    projection: string | null;
    generation: number | null;
    tenant_id: string;
    entity_type: string;
    entity_id: string;
    seq: number;
  }>(sql`
    SELECT c.projection, c.generation, c.tenant_id, c.entity_type, c.entity_id, c.seq
      FROM json_each(${wantedCheckpoints}) AS j
      JOIN ${cp} AS c
        ON c.projection = j.value ->> 0 AND c.generation = j.value ->> 1 AND c.tenant_id = j.value ->> 2
       AND c.entity_type = j.value ->> 3 AND c.entity_id = j.value ->> 4
    UNION ALL
    SELECT NULL, NULL, s.tenant_id, s.entity_type, s.entity_id, s.seq
      FROM json_each(${wantedSagas}) AS j
      JOIN ${sc} AS s ON s.tenant_id = j.value ->> 0 AND s.entity_type = j.value ->> 1 AND s.entity_id = j.value ->> 2`);
  for (const r of rows) {
    const address = { tenant: r.tenant_id, entityType: r.entity_type, entityId: r.entity_id };
    if (r.projection === null || r.generation === null) delivered.set(entityKey(address), r.seq);
    else applied.set(checkpointId({ projection: r.projection, generation: r.generation, ...address }), r.seq);
  }
  return { applied, delivered };
}

/** The sagas' checkpoint of one entity in the `delivered` map of `readProgress` (0: nothing delivered yet). */
export function sagaCheckpointOf(map: Map<string, number>, a: EntityAddress): number {
  return map.get(entityKey(a)) ?? 0;
}

/**
 * One statement that records, per entity, that every fact up to `seq` reached its sagas. Only
 * ever raised: each writer names a seq after delivering everything from a checkpoint it read, so
 * the highest one still means "all below delivered", whichever concurrent consumer wins.
 */
export function advanceSagaCheckpoints(
  db: Db,
  delivered: readonly { address: EntityAddress; seq: number }[],
): Statement {
  const rows = JSON.stringify(
    delivered.map((d) => [d.address.tenant, d.address.entityType, d.address.entityId, d.seq, Date.now()]),
  );
  return db
    .insert(sc)
    .select(
      sql`SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4 FROM json_each(${rows}) AS j WHERE true`,
    )
    .onConflictDoUpdate({
      target: [sc.tenantId, sc.entityType, sc.entityId],
      set: { seq: sql`max(${sc.seq}, excluded.seq)`, deliveredAt: sql`excluded.delivered_at` },
    });
}
