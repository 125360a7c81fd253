// A view's change feed (the `view_changes` table): which facts changed the view a tenant reads.
// `changeStatements` goes into the same D1 batch as the projection's own statements and its
// checkpoint advance, so a change is recorded exactly when the view shows it (a batch that fails
// on its checkpoint guard records nothing, so a redelivered fact is never recorded twice). Only
// the generation that serves reads records changes — decided inside the batch against
// `projection_generations`, so it agrees with a concurrent rebuild's switch; a rebuild replaying
// history into the next generation records none, and its switch records the facts the new
// generation shows that the old one had not applied (`switchChangeStatements`).
//
// Each feed numbers its changes 1, 2, 3… (`position`, the feed's offsets): the insert reads the
// feed's last position in the same statement, and D1 runs one statement at a time, so two
// batches never take the same number (the unique index would refuse it if they did).
//
// Retention: each feed (tenant, view) keeps a contiguous window of its newest changes — its
// newest `retainCount` and every change from the oldest one recorded within `retainAgeMs` on,
// whichever keeps more — and `pruneViewChanges` deletes the prefix before it. So a reader at
// position p lost nothing exactly when the oldest change kept at or after p is p or p + 1 (see
// view-change-stream.ts, which answers any other offset 410 offset-gone).
import { type SQL, sql } from "drizzle-orm";
import { logEvent } from "../../src/core/runtime/log.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import { projectionCheckpoints as cp, projectionGenerations as g, viewChanges as vc } from "../schema.js";
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
        sql`SELECT NULL, ${key.tenant}, ${key.projection}, ${key.entityType}, ${key.entityId}, j.value ->> 0, j.value ->> 1, j.value ->> 2,
                   (SELECT COALESCE(MAX(${vc.position}), 0) FROM ${vc} WHERE ${vc.tenantId} = ${key.tenant} AND ${vc.projection} = ${key.projection}) + j.key + 1
                FROM json_each(${rows}) AS j
               WHERE ${key.generation} = COALESCE((SELECT ${g.active} FROM ${g} WHERE ${g.projection} = ${key.projection} AND ${g.tenantId} = ${key.tenant}), 0)`,
      ),
    );
  }
  return out;
}

/** A fact a rebuild's switch records in the feed: its entity, seq, type and recording time (epoch ms). */
export interface SwitchFact {
  readonly entityType: string;
  readonly entityId: string;
  readonly seq: number;
  readonly type: string;
  readonly recordedAt: number;
}

/**
 * Statements that record, in the switch's batch, the facts a rebuild's generation shows and the
 * generation it replaces had not applied (projection-rebuilder.ts, `switchChanges`). Each fact is
 * recorded only while `guard` (the switch's own condition) holds, and only if, as the batch runs,
 * its seq is above the replaced generation's checkpoint for its entity (what the live consumer
 * applied, and recorded, meanwhile is left out) and at most the new one's. Positions follow on
 * from the feed's last, numbered over the rows kept.
 */
export function switchChangeStatements(
  db: Db,
  scope: {
    readonly tenant: string;
    readonly projection: Projection;
    readonly generation: number;
    readonly previous: number;
  },
  facts: readonly SwitchFact[],
  guard: SQL,
): Statement[] {
  const handled = facts.filter((f) => Object.hasOwn(scope.projection.on, f.type));
  const name = scope.projection.name;
  const checkpointOf = (generation: number) => sql`(SELECT c.seq FROM ${cp} AS c
      WHERE c.projection = ${name} AND c.generation = ${generation} AND c.tenant_id = ${scope.tenant}
        AND c.entity_type = f.value ->> 0 AND c.entity_id = f.value ->> 1)`;
  const out: Statement[] = [];
  for (let i = 0; i < handled.length; i += CHUNK) {
    const rows = JSON.stringify(
      handled.slice(i, i + CHUNK).map((f) => [f.entityType, f.entityId, f.seq, f.type, f.recordedAt]),
    );
    out.push(
      db.insert(vc).select(
        sql`SELECT NULL, ${scope.tenant}, ${name}, f.value ->> 0, f.value ->> 1, f.value ->> 2, f.value ->> 3, f.value ->> 4,
                   (SELECT COALESCE(MAX(${vc.position}), 0) FROM ${vc} WHERE ${vc.tenantId} = ${scope.tenant} AND ${vc.projection} = ${name})
                     + ROW_NUMBER() OVER (ORDER BY f.key)
              FROM json_each(${rows}) AS f
             WHERE ${guard}
               AND f.value ->> 2 > COALESCE(${checkpointOf(scope.previous)}, 0)
               AND f.value ->> 2 <= COALESCE(${checkpointOf(scope.generation)}, 0)`,
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

/**
 * Changes of one tenant's view from position `from` on, oldest first, at most `limit`; with each
 * its position (the stream reads its offset's own position too, to see in the same query whether
 * pruning overtook it).
 */
export async function readChanges(
  db: Db,
  tenant: string,
  projection: string,
  from: number,
  limit: number,
): Promise<{ position: number; change: ViewChange }[]> {
  const rows = await db.all<{
    position: number;
    entity_type: string;
    entity_id: string;
    seq: number;
    event_type: string;
    recorded_at: number;
  }>(sql`
    SELECT position, entity_type, entity_id, seq, event_type, recorded_at FROM ${vc}
     WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection} AND ${vc.position} >= ${from}
     ORDER BY ${vc.position} LIMIT ${limit}`);
  return rows.map((r) => ({
    position: r.position,
    change: {
      entity: { type: r.entity_type, id: r.entity_id },
      seq: r.seq,
      type: r.event_type,
      recordedAt: new Date(r.recorded_at).toISOString(),
    },
  }));
}

/** The position of the tenant view's newest change (0 when none): the feed's tail. */
export async function changeTail(db: Db, tenant: string, projection: string): Promise<number> {
  const rows = await db.all<{ tail: number | null }>(
    sql`SELECT MAX(${vc.position}) AS tail FROM ${vc} WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection}`,
  );
  return rows[0]?.tail ?? 0;
}

/**
 * The position of the oldest change kept at or after `position` in the tenant view's feed (null
 * when none), and the feed's tail (0 when empty), read in one statement so both describe the same
 * moment. A reader at `position` lost nothing to pruning exactly when the first is at most
 * `position + 1` (see `prunedPast`).
 */
export async function changeStanding(
  db: Db,
  tenant: string,
  projection: string,
  position: number,
): Promise<{ next: number | null; tail: number }> {
  const feed = sql`${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection}`;
  const rows = await db.all<{ next: number | null; tail: number | null }>(sql`
    SELECT (SELECT MIN(${vc.position}) FROM ${vc} WHERE ${feed} AND ${vc.position} >= ${position}) AS next,
           (SELECT MAX(${vc.position}) FROM ${vc} WHERE ${feed}) AS tail`);
  return { next: rows[0]?.next ?? null, tail: rows[0]?.tail ?? 0 };
}

/**
 * Whether pruning took changes a reader at `position` has not read: the oldest change kept at or
 * after it (`next`, null when none) is past `position + 1`. Positions within a feed have no gaps
 * (rows from before migration 0004 excepted: there a gap reads as a pruned change, so such an
 * offset may be refused though nothing after it was lost).
 */
export function prunedPast(position: number, next: number | null): boolean {
  return next !== null && next > position + 1;
}

/** How much of each feed to keep, and how much to delete per run (see `pruneViewChanges`). */
export interface Retention {
  /** Keep at least the newest this many changes of each feed. */
  readonly retainCount: number;
  /** …and every change from the oldest recorded at or after `now - retainAgeMs` on. */
  readonly retainAgeMs: number;
  /** Rows one DELETE removes: keeps each statement short, so D1 (one query at a time) stays responsive. */
  readonly chunkRows: number;
  /** DELETEs one run issues at most, over all feeds; what is left is pruned by the next run. */
  readonly maxChunks: number;
}

/**
 * Deletes, in chunks of at most `chunkRows` and at most `maxChunks` of them, the changes of each
 * feed before its retained window (see the module comment) as of `nowMs`. Returns how many rows
 * it deleted; a feed with more to prune than the run's budget is finished by later runs.
 */
export async function pruneViewChanges(db: Db, retention: Retention, nowMs: number): Promise<number> {
  const feeds = await db.all<{ tenant_id: string; projection: string }>(
    sql`SELECT DISTINCT ${vc.tenantId} AS tenant_id, ${vc.projection} AS projection FROM ${vc}`,
  );
  let chunks = 0;
  let deleted = 0;
  for (const feed of feeds) {
    const floor = await windowStart(db, feed.tenant_id, feed.projection, retention, nowMs);
    if (floor === undefined) continue;
    while (chunks < retention.maxChunks) {
      const gone = await db.all<{ id: number }>(sql`
        DELETE FROM ${vc} WHERE ${vc.id} IN (
          SELECT ${vc.id} FROM ${vc}
           WHERE ${vc.tenantId} = ${feed.tenant_id} AND ${vc.projection} = ${feed.projection} AND ${vc.position} < ${floor}
           ORDER BY ${vc.position} LIMIT ${retention.chunkRows})
        RETURNING id`);
      chunks++;
      deleted += gone.length;
      if (gone.length < retention.chunkRows) break;
    }
    if (chunks >= retention.maxChunks) break;
  }
  return deleted;
}

/** The position of a feed's oldest retained change, or undefined when the feed keeps everything it has. */
async function windowStart(
  db: Db,
  tenant: string,
  projection: string,
  retention: Retention,
  nowMs: number,
): Promise<number | undefined> {
  // The newest `retainCount` changes: the window starts no later than the oldest of them.
  const byCount = await db.all<{ position: number }>(sql`
    SELECT ${vc.position} AS position FROM ${vc} WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection}
     ORDER BY ${vc.position} DESC LIMIT 1 OFFSET ${retention.retainCount - 1}`);
  const countFloor = byCount[0]?.position;
  if (countFloor === undefined) return undefined;
  // The oldest young change (walking the feed's index from its oldest: the rows it passes are the
  // ones to prune). recorded_at need not grow with position, so everything after it stays too.
  const byAge = await db.all<{ position: number }>(sql`
    SELECT ${vc.position} AS position FROM ${vc} WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection}
       AND ${vc.recordedAt} >= ${nowMs - retention.retainAgeMs}
     ORDER BY ${vc.position} LIMIT 1`);
  const ageFloor = byAge[0]?.position;
  const floor = ageFloor === undefined ? countFloor : Math.min(countFloor, ageFloor);
  // Nothing before the window: no DELETE, so a run's budget goes to feeds with something to prune.
  const oldest = await db.all<{ position: number }>(sql`
    SELECT ${vc.position} AS position FROM ${vc} WHERE ${vc.tenantId} = ${tenant} AND ${vc.projection} = ${projection}
     ORDER BY ${vc.position} LIMIT 1`);
  return oldest[0] !== undefined && oldest[0].position < floor ? floor : undefined;
}

/** Pruning runs at most this often per isolate: retention is coarse, and each run costs D1 time. */
export const PRUNE_INTERVAL_MS = 60_000;
let lastPruneMs = Number.NEGATIVE_INFINITY;

/**
 * Prunes the change feeds if this isolate has not done so in the last PRUNE_INTERVAL_MS. Called
 * at the end of the queue consumer's batch, after the batch's facts are applied and acknowledged:
 * off every request's path, and tied to the traffic that grows the feeds (no cron trigger to keep
 * in step; a quiet deployment has nothing new to prune). Never throws: a failed run is logged and
 * retried by a later batch.
 */
export async function maybePruneViewChanges(
  db: Db,
  retention: Pick<Retention, "retainCount" | "retainAgeMs">,
  nowMs: number,
): Promise<void> {
  if (nowMs - lastPruneMs < PRUNE_INTERVAL_MS) return;
  lastPruneMs = nowMs;
  try {
    const deleted = await pruneViewChanges(db, { ...retention, chunkRows: 1000, maxChunks: 20 }, nowMs);
    if (deleted > 0) logEvent("info", "view changes pruned", { deleted });
  } catch (err) {
    logEvent("warn", "view changes pruning failed; a later batch retries", { error: String(err) });
  }
}
