// Dead letters: facts the consumer gave up on, kept in D1 with their error so an operator can
// see why and replay them once the cause is fixed. Replaying re-sends the fact to the queue; the
// checkpoints make a replay of something already applied harmless.
import { and, desc, eq, isNull } from "drizzle-orm";
import {
  cloudEventSchema,
  fromCloudEvent,
  parkedFactNotice,
  QUEUE_LIMITS,
  queueMessageBytes,
  type FactCloudEvent,
} from "../../src/core/protocol/cloud-event.js";
import { tenantIdSchema } from "../../src/core/protocol/identifiers.js";
import type { Db } from "../../src/core/model/projection.js";
import { deadLetters } from "../schema.js";

/**
 * The tenant a dead letter is filed under when its body names no valid tenant (a message that is no
 * Factline fact): listable as `?tenant=(unknown)`, and never a tenant id (parentheses are outside
 * the tenant grammar), so no tenant's letters mix with it.
 */
export const UNKNOWN_TENANT = "(unknown)";

export async function recordDeadLetter(
  db: Db,
  message: Message<unknown>,
  projection: string | null,
  error: string,
): Promise<void> {
  const body = message.body as Partial<FactCloudEvent> | null;
  const field = (v: unknown, fallback: string) => (typeof v === "string" && v.length > 0 ? v : fallback);
  const row = {
    id: field(body?.id, message.id),
    // Only a tenant id files it under a tenant, so every listed tenant is one `?tenant=` can name.
    tenantId: tenantIdSchema.safeParse(body?.tenant).success ? field(body?.tenant, UNKNOWN_TENANT) : UNKNOWN_TENANT,
    projection,
    entityType: field(body?.entitytype, "(unknown)"),
    entityId: field(body?.entityid, "(unknown)"),
    seq: typeof body?.seq === "number" ? body.seq : 0,
    body: JSON.stringify(message.body ?? null),
    error: error.slice(0, 2000),
    attempts: message.attempts,
    createdAt: Date.now(),
    replayedAt: null,
  };
  await db
    .insert(deadLetters)
    .values(row)
    .onConflictDoUpdate({
      target: deadLetters.id,
      set: { error: row.error, attempts: row.attempts, createdAt: row.createdAt, replayedAt: null },
    });
}

export function listDeadLetters(db: Db, tenant: string | null, limit: number) {
  const where = and(isNull(deadLetters.replayedAt), tenant === null ? undefined : eq(deadLetters.tenantId, tenant));
  return db.select().from(deadLetters).where(where).orderBy(desc(deadLetters.createdAt)).limit(limit);
}

/** Re-sends a dead letter to the facts queue; false if there is no such letter (for that tenant). */
export async function replayDeadLetter(db: Db, queue: Queue, id: string, tenant: string | null): Promise<boolean> {
  const where = and(eq(deadLetters.id, id), tenant === null ? undefined : eq(deadLetters.tenantId, tenant));
  const row = (await db.select().from(deadLetters).where(where).limit(1))[0];
  if (!row) return false;
  await queue.send(replayable(JSON.parse(row.body) as unknown), { contentType: "json" });
  await db.update(deadLetters).set({ replayedAt: Date.now() }).where(eq(deadLetters.id, id));
  return true;
}

/**
 * What to put on the queue for a stored body: the body itself, or, for a fact too large for a
 * queue message (one that reached the consumer as a parked fact), its parked-fact notice, which
 * the consumer resolves from the entity again.
 */
function replayable(body: unknown): unknown {
  const bytes = queueMessageBytes(body);
  if (bytes <= QUEUE_LIMITS.messageBytes) return body;
  const fact = cloudEventSchema.safeParse(body);
  if (!fact.success) return body;
  return parkedFactNotice(
    fromCloudEvent(fact.data),
    bytes,
    `replayed dead letter of ${bytes} bytes, too large for the queue`,
    Date.now(),
  );
}

/** The dead-letter queue's consumer: anything that reached it was not recorded by the consumer. */
export async function consumeDeadLetterQueue(batch: MessageBatch<unknown>, db: Db): Promise<void> {
  for (const message of batch.messages) {
    await recordDeadLetter(
      db,
      message,
      null,
      "delivered to the dead-letter queue after the consumer's retries ran out",
    );
    message.ack();
  }
}
