// The facts queue consumer: applies a batch of CloudEvents to every projection that follows
// their entities, in as few D1 round trips as it can (one batch when nothing fails). It skips
// what a checkpoint says is applied, repairs gaps by reading the missing range from the entity
// itself, and isolates failures per entity: those retry with growing delay and, after the last
// attempt, are recorded as dead letters with their error.
import { drizzle } from "drizzle-orm/d1";
import { backoffDelay } from "../src/core/backoff.js";
import { cloudEventSchema, fromCloudEvent } from "../src/core/cloud-event.js";
import type { EntityRpc } from "../src/core/entity-protocol.js";
import type { RecordedEvent } from "../src/core/envelope.js";
import { entityObjectName } from "../src/core/identifiers.js";
import { logEvent } from "../src/core/log.js";
import { traceIdOf } from "../src/core/trace-context.js";
import { domain } from "../src/domain/index.js";
import { advanceCheckpoint, checkpointId, readCheckpoints, type CheckpointKey } from "./checkpoints.js";
import { recordDeadLetter } from "./dead-letters.js";
import type { Db, Statement } from "./projection.js";
import { projections } from "./projections/index.js";
import { routeFactsToSagas } from "./saga-router.js";

/** Equal to the queue's max_retries: the last attempt records a dead letter itself. */
export const MAX_ATTEMPTS = 5;
const RETRY = { baseMs: 1_000, maxMs: 60_000 };
const REPAIR_PAGE = 1000;

interface EntityGroup {
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
  readonly messages: Message<unknown>[];
  readonly events: Map<number, RecordedEvent>;
}

export async function consumeFacts(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db: Db = drizzle(env.DB);
  const groups = new Map<string, EntityGroup>();
  for (const message of batch.messages) {
    const parsed = cloudEventSchema.safeParse(message.body);
    if (!parsed.success) {
      // Not ours, or corrupted: retrying cannot help.
      await recordDeadLetter(db, message, null, `not a Factline fact: ${parsed.error.message}`);
      message.ack();
      continue;
    }
    const event = upcast(fromCloudEvent(parsed.data));
    const key = entityObjectName(event.meta.tenant, event.meta.entityType, event.meta.entityId);
    let group = groups.get(key);
    if (!group) {
      group = { tenant: event.meta.tenant, entityType: event.meta.entityType, entityId: event.meta.entityId, messages: [], events: new Map() };
      groups.set(key, group);
    }
    group.messages.push(message);
    group.events.set(event.seq, event);
  }
  if (groups.size === 0) return;

  const keys = [...groups.values()].flatMap((g) => followers(g.entityType).map((p) => keyOf(p, g)));
  const applied = await readCheckpoints(db, keys);

  const plans: { group: EntityGroup; statements: Statement[] }[] = [];
  for (const group of groups.values()) {
    try {
      plans.push({ group, statements: await plan(env, db, group, applied) });
    } catch (error) {
      await fail(db, group, error);
    }
  }
  const all = plans.flatMap((p) => p.statements);
  try {
    if (isNonEmpty(all)) await db.batch(all);
    await Promise.all(plans.map((p) => settle(env, db, p.group)));
  } catch {
    // One entity's failure must not hold back the rest: apply entity by entity.
    for (const p of plans) {
      try {
        if (isNonEmpty(p.statements)) await db.batch(p.statements);
        await settle(env, db, p.group);
      } catch (error) {
        await fail(db, p.group, error);
      }
    }
  }
}

function followers(entityType: string) {
  return projections.filter((p) => p.follows.includes(entityType));
}

function keyOf(p: { name: string }, g: EntityGroup): CheckpointKey {
  return { projection: p.name, tenant: g.tenant, entityType: g.entityType, entityId: g.entityId };
}

async function plan(env: Env, db: Db, group: EntityGroup, applied: Map<string, number>): Promise<Statement[]> {
  const statements: Statement[] = [];
  const newest = Math.max(...group.events.keys());
  for (const projection of followers(group.entityType)) {
    const key = keyOf(projection, group);
    const from = applied.get(checkpointId(key)) ?? 0;
    if (newest <= from) continue;
    let pending: RecordedEvent[] = [];
    for (let seq = from + 1; seq <= newest; seq++) {
      const event = group.events.get(seq);
      if (!event) break;
      pending.push(event);
    }
    if (pending.length < newest - from) {
      // A gap: an earlier fact is late or lost. The entity's log is the truth; read it.
      pending = await readFromEntity(env, group, from, newest);
      if (pending.length !== newest - from) throw new Error(`entity log is missing facts ${from + 1}..${newest}`);
    }
    const last = pending[pending.length - 1];
    if (!last) continue;
    statements.push(advanceCheckpoint(db, key, from, last.seq, Date.parse(last.meta.recordedAt)));
    for (const event of pending) {
      const handler = projection.on[event.type];
      if (handler) statements.push(...handler(db, event));
    }
  }
  return statements;
}

async function readFromEntity(env: Env, g: EntityGroup, after: number, upTo: number): Promise<RecordedEvent[]> {
  const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(g.tenant, g.entityType, g.entityId))) as unknown as EntityRpc;
  const address = { tenant: g.tenant, entityType: g.entityType, entityId: g.entityId };
  const events: RecordedEvent[] = [];
  let cursor = after;
  while (cursor < upTo) {
    const page = await stub.events(address, cursor, Math.min(REPAIR_PAGE, upTo - cursor));
    if (!page || page.events.length === 0) break;
    events.push(...page.events);
    cursor = page.events[page.events.length - 1]?.seq ?? upTo;
  }
  return events;
}

async function settle(env: Env, db: Db, group: EntityGroup): Promise<void> {
  try {
    // Projections are applied (and checkpointed, so a retry skips them); sagas come next.
    await routeFactsToSagas(env, [...group.events.values()]);
  } catch (error) {
    await fail(db, group, error);
    return;
  }
  for (const event of group.events.values()) {
    logEvent("info", "fact applied", {
      tenant: group.tenant,
      entityType: group.entityType,
      entityId: group.entityId,
      seq: event.seq,
      eventType: event.type,
      traceId: traceIdOf(event.meta.traceparent),
    });
  }
  for (const m of group.messages) m.ack();
}

async function fail(db: Db, group: EntityGroup, error: unknown): Promise<void> {
  const detail = error instanceof Error ? error.message : String(error);
  logEvent("warn", "fact batch failed", { tenant: group.tenant, entityType: group.entityType, entityId: group.entityId, error: detail });
  for (const m of group.messages) {
    if (m.attempts >= MAX_ATTEMPTS) {
      await recordDeadLetter(db, m, null, detail);
      m.ack();
    } else {
      m.retry({ delaySeconds: Math.ceil(backoffDelay(m.attempts, RETRY) / 1000) });
    }
  }
}

/** Facts sent before a schema change arrive at their old version: lift them here too. */
function upcast(event: RecordedEvent): RecordedEvent {
  const entity = domain.get(event.meta.entityType);
  if (!entity || event.schemaVersion >= entity.eventVersion(event.type)) return event;
  return {
    ...event,
    schemaVersion: entity.eventVersion(event.type),
    data: entity.upcast(event.type, event.schemaVersion, event.data),
  };
}

function isNonEmpty<T>(items: T[]): items is [T, ...T[]] {
  return items.length > 0;
}
