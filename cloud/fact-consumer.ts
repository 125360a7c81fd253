// The facts queue consumer: applies a batch of CloudEvents to every projection that follows
// their entities, in as few D1 round trips as it can (one batch when nothing fails). It skips
// what a checkpoint says is applied, repairs gaps by reading the missing range from the entity
// itself, and isolates failures per entity: those retry with growing delay and, after the last
// attempt, are recorded as dead letters with their error. Applied facts are acknowledged to their
// entity, which bounds how far the edge runs ahead of the cloud tier.
import { drizzle } from "drizzle-orm/d1";
import { backoffDelay } from "../src/core/backoff.js";
import { cloudEventSchema, fromCloudEvent } from "../src/core/cloud-event.js";
import type { EntityAddress } from "../src/core/entity-protocol.js";
import type { RecordedEvent } from "../src/core/envelope.js";
import { faultPoint, type FaultContext } from "../src/core/fault-injection.js";
import { entityObjectName } from "../src/core/identifiers.js";
import { logEvent } from "../src/core/log.js";
import { traceIdOf } from "../src/core/trace-context.js";
import { domain } from "../src/domain/index.js";
import { applyStatements, checkpointId, readCheckpoints, type CheckpointKey } from "./checkpoints.js";
import { recordHeads, type EntityHead } from "./entity-heads.js";
import { entityStub, readFromEntity } from "./entity-reader.js";
import { recordDeadLetter } from "./dead-letters.js";
import { generationsOf, liveGenerations, readGenerations, type Generations } from "./generations.js";
import { recordFactApplied } from "./metrics-buffer.js";
import type { Db, Projection, Statement } from "./projection.js";
import { projections } from "./projections/index.js";
import { routeFactsToSagas } from "./saga-router.js";

/** Equal to the queue's max_retries: the last attempt records a dead letter itself. */
const MAX_ATTEMPTS = 5;
const RETRY = { baseMs: 1_000, maxMs: 60_000 };

interface EntityGroup {
  readonly address: EntityAddress;
  readonly messages: Message<unknown>[];
  readonly events: Map<number, RecordedEvent>;
  /** Earlier facts read back from the entity to fill a gap: the sagas must see them too. */
  readonly repaired: Map<number, RecordedEvent>;
}

export async function consumeFacts(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db: Db = drizzle(env.DB);
  const groups = await groupByEntity(db, batch.messages);
  if (groups.length === 0) return;

  const gens = await readGenerations(
    db,
    groups.flatMap((g) => followers(g.address.entityType).map((p) => ({ projection: p.name, tenant: g.address.tenant }))),
  );
  const keys = groups.flatMap((g) => targets(g, gens).map((t) => t.key));
  const applied = await readCheckpoints(db, keys);

  const plans: { group: EntityGroup; statements: Statement[] }[] = [];
  for (const group of groups) {
    try {
      plans.push({ group, statements: await plan(env, db, group, gens, applied) });
    } catch (error) {
      await fail(db, group, error);
    }
  }
  const settled: EntityGroup[] = [];
  try {
    if (plans.length > 0) await writeBatch(db, [recordHeads(db, plans.map((p) => headOf(p.group))), ...plans.flatMap((p) => p.statements)], {});
    settled.push(...plans.map((p) => p.group));
  } catch {
    // One entity's failure must not hold back the rest: apply entity by entity.
    for (const p of plans) {
      try {
        await writeBatch(db, [recordHeads(db, [headOf(p.group)]), ...p.statements], p.group.address);
        settled.push(p.group);
      } catch (error) {
        await fail(db, p.group, error);
      }
    }
  }
  // Projections are applied and checkpointed (a retry skips them); the sagas that follow come next.
  const done = await Promise.all(
    settled.map(async (group) => {
      try {
        // A lost fact that started a saga may reach the cloud only through gap repair.
        await routeFactsToSagas(env, [...group.events.values(), ...group.repaired.values()]);
        settle(group);
        return group;
      } catch (error) {
        await fail(db, group, error);
        return undefined;
      }
    }),
  );
  // Tell each entity how far its facts are consumed; a lost acknowledgement only delays the next.
  await Promise.allSettled(
    done.flatMap((g) => (g ? [entityStub(env, g.address).acknowledge(g.address, newest(g))] : [])),
  );
}

async function groupByEntity(db: Db, messages: readonly Message<unknown>[]): Promise<EntityGroup[]> {
  const groups = new Map<string, EntityGroup>();
  for (const message of messages) {
    const parsed = cloudEventSchema.safeParse(message.body);
    if (!parsed.success) {
      // Not ours, or corrupted: retrying cannot help.
      await recordDeadLetter(db, message, null, `not a Factline fact: ${parsed.error.message}`);
      message.ack();
      continue;
    }
    const event = upcast(fromCloudEvent(parsed.data));
    const { tenant, entityType, entityId } = event.meta;
    const key = entityObjectName(tenant, entityType, entityId);
    let group = groups.get(key);
    if (!group) {
      group = { address: { tenant, entityType, entityId }, messages: [], events: new Map(), repaired: new Map() };
      groups.set(key, group);
    }
    group.messages.push(message);
    group.events.set(event.seq, event);
  }
  return [...groups.values()];
}

function followers(entityType: string): Projection[] {
  return projections.filter((p) => p.follows.includes(entityType));
}

/** Every (projection, generation) that this entity's facts must reach. */
function targets(g: EntityGroup, gens: Map<string, Generations>): { projection: Projection; key: CheckpointKey }[] {
  return followers(g.address.entityType).flatMap((projection) =>
    liveGenerations(generationsOf(gens, projection.name, g.address.tenant)).map((generation) => ({
      projection,
      key: { projection: projection.name, generation, ...g.address },
    })),
  );
}

async function plan(env: Env, db: Db, group: EntityGroup, gens: Map<string, Generations>, applied: Map<string, number>): Promise<Statement[]> {
  faultPoint("consumer.apply", group.address);
  const statements: Statement[] = [];
  const upTo = newest(group);
  for (const { projection, key } of targets(group, gens)) {
    const from = applied.get(checkpointId(key)) ?? 0;
    if (upTo <= from) continue;
    let pending: RecordedEvent[] = [];
    for (let seq = from + 1; seq <= upTo; seq++) {
      const event = group.events.get(seq);
      if (!event) break;
      pending.push(event);
    }
    if (pending.length < upTo - from) {
      // A gap: an earlier fact is late or lost. The entity's log is the truth; read it.
      pending = await readFromEntity(env, group.address, from, upTo);
      if (pending.length !== upTo - from) throw new Error(`entity log is missing facts ${from + 1}..${upTo}`);
      for (const event of pending) if (!group.events.has(event.seq)) group.repaired.set(event.seq, event);
    }
    statements.push(...applyStatements(db, projection, key, from, pending));
  }
  return statements;
}

/** The newest fact seen per entity, so lag can be measured against it and rebuilds find it. */
function headOf(group: EntityGroup): EntityHead {
  const seq = newest(group);
  const head = group.events.get(seq);
  return { ...group.address, seq, recordedAt: head ? Date.parse(head.meta.recordedAt) : Date.now() };
}

function newest(group: EntityGroup): number {
  return Math.max(...group.events.keys());
}

function settle(group: EntityGroup): void {
  const now = Date.now();
  for (const event of group.events.values()) {
    recordFactApplied(group.address.tenant, now - Date.parse(event.meta.recordedAt), now);
    logEvent("info", "fact applied", {
      ...group.address,
      seq: event.seq,
      eventType: event.type,
      traceId: traceIdOf(event.meta.traceparent),
    });
  }
  for (const m of group.messages) m.ack();
}

async function fail(db: Db, group: EntityGroup, error: unknown): Promise<void> {
  const detail = error instanceof Error ? error.message : String(error);
  logEvent("warn", "fact batch failed", { ...group.address, error: detail });
  await db.batch([recordHeads(db, [headOf(group)])]).catch(() => undefined);
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

/** One D1 batch: atomic, so a failure leaves nothing of it applied. */
async function writeBatch(db: Db, statements: [Statement, ...Statement[]], context: FaultContext): Promise<void> {
  faultPoint("consumer.batch", context);
  await db.batch(statements);
}
