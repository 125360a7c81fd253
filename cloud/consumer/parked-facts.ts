// Parked facts: facts an entity's relay could not put on the queue (too large for a message) and
// sent as a small notice instead. The consumer (src/core/consumer/consumer-host.ts, through
// fact-consumer.ts) resolves each notice into the fact itself, read from its entity over the
// entity's binding (no queue limit there), so views and sagas still get it in order, and records
// the notice here in D1, where an operator lists and acknowledges it.
import { and, desc, eq, isNull } from "drizzle-orm";
import type { ParkedFactNotice } from "../../src/core/protocol/cloud-event.js";
import type { Db } from "../../src/core/model/projection.js";
import { parkedFacts } from "../schema.js";

/** Records a parked fact's notice for operators (once: a redelivered notice changes nothing). */
export async function recordParkedFact(db: Db, n: ParkedFactNotice): Promise<void> {
  await db
    .insert(parkedFacts)
    .values({
      id: n.eventid,
      tenantId: n.tenant,
      entityType: n.entitytype,
      entityId: n.entityid,
      seq: n.seq,
      eventType: n.eventtype,
      bytes: n.bytes,
      reason: n.reason.slice(0, 2000),
      parkedAt: n.parkedAt,
      acknowledgedAt: null,
    })
    .onConflictDoNothing();
}

/** Parked facts not yet acknowledged by an operator, newest first (all tenants when `tenant` is null). */
export function listParkedFacts(db: Db, tenant: string | null, limit: number) {
  const where = and(isNull(parkedFacts.acknowledgedAt), tenant === null ? undefined : eq(parkedFacts.tenantId, tenant));
  return db.select().from(parkedFacts).where(where).orderBy(desc(parkedFacts.parkedAt)).limit(limit);
}

/**
 * An operator has seen the parked fact (and dealt with its cause): it leaves the list. Returns
 * false when there is no such fact (for that tenant). Acknowledging twice is harmless.
 */
export async function acknowledgeParkedFact(db: Db, id: string, tenant: string | null): Promise<boolean> {
  const where = and(eq(parkedFacts.id, id), tenant === null ? undefined : eq(parkedFacts.tenantId, tenant));
  const row = (
    await db
      .select({ id: parkedFacts.id, acknowledgedAt: parkedFacts.acknowledgedAt })
      .from(parkedFacts)
      .where(where)
      .limit(1)
  )[0];
  if (!row) return false;
  if (row.acknowledgedAt === null)
    await db.update(parkedFacts).set({ acknowledgedAt: Date.now() }).where(eq(parkedFacts.id, id));
  return true;
}
