// Parked facts: facts an entity's relay could not put on the queue (too large for a message) and
// sent as a small notice instead. The consumer resolves each notice into the fact itself, read
// from its entity over the entity's binding (no queue limit there), so views and sagas still get
// it in order; and it records the notice in D1, where an operator lists and acknowledges it.
import { and, desc, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { parkedFactNoticeSchema, toCloudEvent, type ParkedFactNotice } from "../../src/core/protocol/cloud-event.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { readFromEntity } from "./entity-reader.js";
import type { Db } from "../../src/core/model/projection.js";
import { parkedFacts } from "../schema.js";

// A notice whose fact cannot be read yet (the entity busy or unreachable) is retried after this.
const RETRY_DELAY_SECONDS = 5;

/**
 * The batch as the facts consumer must see it: every parked-fact notice recorded for operators
 * and replaced by its fact, read from the entity; other messages unchanged. The replacement
 * acknowledges or retries the notice, so the queue's accounting stays that of the notice.
 */
export async function resolveParkedNotices(batch: MessageBatch<unknown>, env: Env): Promise<MessageBatch<unknown>> {
  if (!batch.messages.some((m) => parkedFactNoticeSchema.safeParse(m.body).success)) return batch;
  const db: Db = drizzle(env.DB);
  const messages: Message<unknown>[] = [];
  for (const message of batch.messages) {
    const notice = parkedFactNoticeSchema.safeParse(message.body);
    if (!notice.success) {
      messages.push(message);
      continue;
    }
    try {
      await recordParkedFact(db, notice.data);
      const address: EntityAddress = {
        tenant: notice.data.tenant,
        entityType: notice.data.entitytype,
        entityId: notice.data.entityid,
      };
      const [event] = await readFromEntity(env, address, notice.data.seq - 1, notice.data.seq);
      if (!event || event.meta.eventId !== notice.data.eventid)
        throw new Error(`entity log has no fact ${notice.data.seq} ${notice.data.eventid}`);
      messages.push(standIn(message, toCloudEvent(event)));
    } catch (error) {
      logEvent("warn", "parked fact not resolved", {
        ...notice.data,
        error: error instanceof Error ? error.message : String(error),
      });
      message.retry({ delaySeconds: RETRY_DELAY_SECONDS });
    }
  }
  return {
    queue: batch.queue,
    metadata: batch.metadata,
    messages,
    ackAll: () => batch.ackAll(),
    retryAll: (options?: QueueRetryOptions) => batch.retryAll(options),
  };
}

/** A message carrying `body` in place of `notice`'s, settled through the notice. */
function standIn(notice: Message<unknown>, body: unknown): Message<unknown> {
  return {
    id: notice.id,
    timestamp: notice.timestamp,
    attempts: notice.attempts,
    body,
    ack: () => notice.ack(),
    retry: (options?: QueueRetryOptions) => notice.retry(options),
  };
}

async function recordParkedFact(db: Db, n: ParkedFactNotice): Promise<void> {
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
