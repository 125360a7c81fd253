// A view's change feed (the `view_changes` table): which facts changed the view a tenant reads.
// `changeStatements` goes into the same D1 batch as the projection's own statements and its
// checkpoint advance, so a change is recorded exactly when the view shows it (a batch that fails
// on its checkpoint guard records nothing, so a redelivered fact is never recorded twice). Only
// the generation that serves reads records changes — decided inside the batch against
// `projection_generations`, so it agrees with a concurrent rebuild's switch; a rebuild replaying
// history into the next generation records none.
import { sql } from "drizzle-orm";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import { projectionGenerations as g, viewChanges as vc } from "../schema.js";
import type { CheckpointKey } from "./checkpoints.js";

// Events per statement: each is ~60 bytes of JSON, well under D1's 100 KB per statement.
const CHUNK = 500;

/** Statements that record `events`, applied to `key`'s generation, in the view's change feed. */
export function changeStatements(
  db: Db,
  projection: Projection,
  key: CheckpointKey,
  all: readonly RecordedEvent[],
): Statement[] {
  // Only facts the view handles change it; the rest just advance its checkpoint.
  const events = all.filter((e) => Object.hasOwn(projection.on, e.type));
  const out: Statement[] = [];
  for (let i = 0; i < events.length; i += CHUNK) {
    const rows = JSON.stringify(events.slice(i, i + CHUNK).map((e) => [e.seq, e.type, Date.parse(e.meta.recordedAt)]));
    out.push(
      db.insert(vc).select(
        sql`SELECT NULL, ${key.tenant}, ${key.projection}, ${key.entityType}, ${key.entityId}, j.value ->> 0, j.value ->> 1, j.value ->> 2
                FROM json_each(${rows}) AS j
               WHERE ${key.generation} = COALESCE((SELECT ${g.active} FROM ${g} WHERE ${g.projection} = ${key.projection} AND ${g.tenantId} = ${key.tenant}), 0)`,
      ),
    );
  }
  return out;
}

/** One change as the feed serves it: the fact that changed the view. */
export interface ViewChange {
  readonly entity: { readonly type: string; readonly id: string };
  readonly seq: number;
  readonly type: string;
  readonly recordedAt: string;
}

/** Changes of one tenant's view after `after` (an id), oldest first, at most `limit`; with each its id. */
export async function readChanges(
  db: Db,
  tenant: string,
  projection: string,
  after: number,
  limit: number,
): Promise<{ id: number; change: ViewChange }[]> {
  const rows = await db.all<{
    id: number;
    entity_type: string;
    entity_id: string;
    seq: number;
    event_type: string;
    recorded_at: number;
  }>(sql`
    SELECT id, entity_type, entity_id, seq, event_type, recorded_at FROM ${vc}
     WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection} AND ${vc.id} > ${after}
     ORDER BY ${vc.id} LIMIT ${limit}`);
  return rows.map((r) => ({
    id: r.id,
    change: {
      entity: { type: r.entity_type, id: r.entity_id },
      seq: r.seq,
      type: r.event_type,
      recordedAt: new Date(r.recorded_at).toISOString(),
    },
  }));
}

/** The id of the tenant view's newest change (0 when none): the feed's tail. */
export async function changeTail(db: Db, tenant: string, projection: string): Promise<number> {
  const rows = await db.all<{ tail: number | null }>(
    sql`SELECT MAX(${vc.id}) AS tail FROM ${vc} WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection}`,
  );
  return rows[0]?.tail ?? 0;
}
