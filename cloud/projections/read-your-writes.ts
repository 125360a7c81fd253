// Read-your-writes for view reads: how long, and how often, a read presenting a consistency token
// waits for its projection to apply the token's write. The wait is a fixed schedule of a few
// probes with doubling gaps, each probe one D1 query, so a stale read costs at most
// `probeDelays(...).length + 1` queries, whatever D1's speed (it used to poll every 50 ms: ~80),
// and a deadline, so it waits 2 s however slow the probes are (plus the one in flight then).
import { sql } from "drizzle-orm";
import type { Db } from "../../src/core/model/projection.js";

/** Gaps between probes: doubling from 25 ms, 2 s in all (the README's promise). */
export const CONSISTENCY_WAIT = { firstMs: 25, totalMs: 2_000 } as const;

/**
 * The gaps (ms) between successive probes: firstMs, 2·firstMs, … and a last gap that ends exactly
 * at totalMs (a first gap below 1 ms counts as 1). Pure; e.g. (25, 2000) → [25, 50, 100, 200,
 * 400, 800, 425].
 */
export function probeDelays(firstMs: number, totalMs: number): number[] {
  const delays: number[] = [];
  let spent = 0;
  for (let next = Math.max(1, firstMs); spent < totalMs; next *= 2) {
    const gap = Math.min(next, totalMs - spent);
    delays.push(gap);
    spent += gap;
  }
  return delays;
}

/** The time a wait runs on (production: `scheduler.wait` and `Date.now`). */
export interface WaitClock {
  sleep(ms: number): Promise<void>;
  /** Epoch ms. */
  now(): number;
}

/**
 * Probes until `applied()` is true, sleeping the given gaps in between; false once the wait's
 * time (the gaps' sum, from the call) is spent and the last probe still says no. The time bounds
 * the wait, not the gaps alone: when probes are slow (D1 under load), the gaps shrink to end at
 * that deadline and no probe starts after it, so a read waits at most the gaps' sum plus the one
 * probe in flight at the deadline. Probes at most `delays.length + 1` times.
 */
export async function waitUntilApplied(
  applied: () => Promise<boolean>,
  delays: readonly number[],
  clock: WaitClock,
): Promise<boolean> {
  const deadline = clock.now() + delays.reduce((sum, d) => sum + d, 0);
  if (await applied()) return true;
  for (const delay of delays) {
    const gap = Math.min(delay, deadline - clock.now());
    if (gap <= 0) return false;
    await clock.sleep(gap);
    if (await applied()) return true;
  }
  return false;
}

/** Where one entity stands in a projection's active generation. */
export interface AppliedPoint {
  /** The tenant's active generation of the projection. */
  readonly generation: number;
  /** The entity's last sequence number applied in it (0: none). */
  readonly seq: number;
}

/** The active generation and the entity's checkpoint in it, in one query. */
export async function appliedInActive(
  db: Db,
  at: { projection: string; tenant: string; entityType: string; entityId: string },
): Promise<AppliedPoint> {
  const row = (
    await db.all<{ generation: number; seq: number | null }>(sql`
      SELECT coalesce(g.active, 0) AS generation, c.seq AS seq
        FROM (SELECT 1) AS one
        LEFT JOIN projection_generations AS g ON g.projection = ${at.projection} AND g.tenant_id = ${at.tenant}
        LEFT JOIN projection_checkpoints AS c
          ON c.projection = ${at.projection} AND c.generation = coalesce(g.active, 0) AND c.tenant_id = ${at.tenant}
         AND c.entity_type = ${at.entityType} AND c.entity_id = ${at.entityId}`)
  )[0];
  return { generation: row?.generation ?? 0, seq: row?.seq ?? 0 };
}
