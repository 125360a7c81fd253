// The facts queue consumer: applies a batch of CloudEvents to every projection that follows
// their entities, in as few D1 round trips as it can (one batch when nothing fails). It skips
// what a checkpoint says is applied, repairs gaps by reading the missing range from the entity
// itself, and isolates failures per entity: those retry with growing delay and, after the last
// attempt, are recorded as dead letters with their error. Applied facts are acknowledged to their
// entity, which bounds how far the edge runs ahead of the cloud tier. The per-entity rules (skip,
// apply, repair, the sagas' checkpoint, retry or dead letter) are src/core/consumer/entity-plan.ts,
// shared with the simulator; this file performs their effects with the bindings.
import { describeFieldErrors, fieldErrors } from "../../src/core/model/entity.js";
import { drizzle } from "drizzle-orm/d1";
import { newestSeq, onFailure, planSagas, planTarget, repairComplete } from "../../src/core/consumer/entity-plan.js";
import { cloudEventSchema, fromCloudEvent } from "../../src/core/protocol/cloud-event.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { faultPoint, pausePoint, type FaultContext } from "../../src/core/resilience/fault-injection.js";
import { entityObjectName } from "../../src/core/protocol/identifiers.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { maybePruneViewChanges } from "../projections/view-changes.js";
import { traceIdOf } from "../../src/core/http/trace-context.js";
import {
  advanceSagaCheckpoints,
  applyStatements,
  checkpointId,
  readProgress,
  sagaCheckpointOf,
  type CheckpointKey,
} from "../projections/checkpoints.js";
import { recordHeads, type EntityHead } from "./entity-heads.js";
import { readFromEntity } from "./entity-reader.js";
import { entityStub } from "../stubs.js";
import { recordDeadLetter } from "./dead-letters.js";
import {
  generationsGuard,
  generationsOf,
  liveGenerations,
  readGenerations,
  type Generations,
} from "../projections/generations.js";
import { recordFactApplied } from "../metrics/metrics-buffer.js";
import type { Db, Projection, Statement } from "../../src/core/model/projection.js";
import type { CloudApp } from "../app.js";
import { concernsSagas, deliverFactsToSagas } from "../sagas/saga-delivery.js";

interface EntityGroup {
  readonly address: EntityAddress;
  readonly messages: Message<unknown>[];
  readonly events: Map<number, RecordedEvent>;
  /** Earlier facts read back from the entity to fill a gap: the sagas must see them too. */
  readonly repaired: Map<number, RecordedEvent>;
}

export async function consumeFacts(batch: MessageBatch<unknown>, env: Env, app: CloudApp): Promise<void> {
  const db: Db = drizzle(env.DB);
  const groups = await groupByEntity(db, app, batch.messages);
  if (groups.length === 0) return;

  // Groups whose facts no saga follows: their saga checkpoint advances in the projections' own
  // write, sparing a D1 round trip.
  const sagaFree = new Set<EntityGroup>();
  const { settled, delivered } = await applyToProjections(env, app, db, groups, (group, delivered) => {
    const sagas = planSagas(group, sagaCheckpointOf(delivered, group.address), app.sagas.length > 0, (facts) =>
      concernsSagas(app.sagas, facts),
    );
    if (sagas.kind === "deliver" || sagas.kind === "repair") return [];
    sagaFree.add(group);
    return sagas.kind === "advance" ? [advanceSagaCheckpoints(db, [{ address: group.address, seq: sagas.upTo }])] : [];
  });
  // Projections are applied and checkpointed (a retry skips them); the sagas come next, from their
  // own checkpoint, so a fact projections applied but sagas never got is handed over on a retry.
  const handed = await Promise.all(
    settled.map(async (group) => {
      if (sagaFree.has(group)) return { group, advanced: false };
      try {
        return { group, advanced: await deliverToSagas(env, app, group, sagaCheckpointOf(delivered, group.address)) };
      } catch (error) {
        await fail(db, group, error);
        return undefined;
      }
    }),
  );
  const done = handed.flatMap((h) => (h ? [h.group] : []));
  const advanced = handed.flatMap((h) => (h?.advanced ? [h.group] : []));
  let consumed = done;
  if (advanced.length > 0) {
    try {
      await db.batch([
        advanceSagaCheckpoints(
          db,
          advanced.map((g) => ({ address: g.address, seq: newest(g) })),
        ),
      ]);
    } catch (error) {
      // Delivered but not recorded: the retry hands the same facts again (sagas deduplicate).
      for (const g of advanced) await fail(db, g, error);
      consumed = done.filter((g) => !advanced.includes(g));
    }
  }
  for (const group of consumed) settle(group);
  // Tell each entity how far its facts are consumed (by projections and sagas both); a lost
  // acknowledgement only delays the next.
  await Promise.allSettled(consumed.map((g) => entityStub(env, g.address).acknowledge(g.address, newest(g))));
  // The change feeds' retention, at most once a minute per isolate, once this batch's work is done
  // (cloud/projections/view-changes.ts says why here).
  const config = hostConfig(env, "consumer");
  await maybePruneViewChanges(
    db,
    { retainCount: config.viewChangesRetainCount, retainAgeMs: config.viewChangesRetainAgeMs },
    Date.now(),
  );
}

/**
 * Applies the groups to every live generation of every projection that follows them; returns the
 * groups now applied (failed ones are already scheduled for retry) and the sagas' checkpoints it
 * read, each group written together with
 * the statements `alongside` gives for it (from the sagas' checkpoints, read in the same query). If a rebuild started or
 * switched between reading the generations and writing, the write is refused by the generations
 * guard and planned once more against the new generations.
 */
async function applyToProjections(
  env: Env,
  app: CloudApp,
  db: Db,
  groups: readonly EntityGroup[],
  alongside: (group: EntityGroup, delivered: Map<string, number>) => Statement[],
): Promise<{ settled: EntityGroup[]; delivered: Map<string, number> }> {
  const pairs = uniquePairs(app, groups);
  for (let round = 0; ; round++) {
    const gens = await readGenerations(db, pairs);
    const keys = groups.flatMap((g) => targets(app, g, gens).map((t) => t.key));
    const { applied, delivered } = await readProgress(
      db,
      keys,
      groups.map((g) => g.address),
    );
    const plans: { group: EntityGroup; statements: Statement[] }[] = [];
    const unplanned: { group: EntityGroup; error: unknown }[] = [];
    for (const group of groups) {
      try {
        plans.push({
          group,
          statements: [...(await plan(env, app, db, group, gens, applied)), ...alongside(group, delivered)],
        });
      } catch (error) {
        unplanned.push({ group, error });
      }
    }
    const guard = generationsGuard(
      db,
      pairs.map((p) => ({ ...p, gens: generationsOf(gens, p.projection, p.tenant) })),
    );
    const paused = pausePoint("consumer.beforeWrite", groups[0]?.address);
    if (paused) await paused;
    try {
      if (plans.length > 0)
        await writeBatch(
          db,
          [
            guard,
            recordHeads(
              db,
              plans.map((p) => headOf(p.group)),
            ),
            ...plans.flatMap((p) => p.statements),
          ],
          {},
        );
      for (const u of unplanned) await fail(db, u.group, u.error);
      return { settled: plans.map((p) => p.group), delivered };
    } catch {
      if (round === 0 && (await generationsMoved(db, pairs, gens))) continue;
      for (const u of unplanned) await fail(db, u.group, u.error);
      // One entity's failure must not hold back the rest: apply entity by entity.
      const settled: EntityGroup[] = [];
      for (const p of plans) {
        try {
          await writeBatch(db, [guard, recordHeads(db, [headOf(p.group)]), ...p.statements], p.group.address);
          settled.push(p.group);
        } catch (error) {
          await fail(db, p.group, error);
        }
      }
      return { settled, delivered };
    }
  }
}

function uniquePairs(app: CloudApp, groups: readonly EntityGroup[]): { projection: string; tenant: string }[] {
  const pairs = new Map<string, { projection: string; tenant: string }>();
  for (const g of groups) {
    for (const p of followers(app, g.address.entityType))
      pairs.set(`${p.name}|${g.address.tenant}`, { projection: p.name, tenant: g.address.tenant });
  }
  return [...pairs.values()];
}

async function generationsMoved(
  db: Db,
  pairs: readonly { projection: string; tenant: string }[],
  read: Map<string, Generations>,
): Promise<boolean> {
  const now = await readGenerations(db, pairs).catch(() => read);
  return pairs.some((p) => {
    const a = generationsOf(read, p.projection, p.tenant);
    const b = generationsOf(now, p.projection, p.tenant);
    return a.active !== b.active || a.building !== b.building;
  });
}

/**
 * Hands the entity's facts after `from` (the sagas' checkpoint) up to the group's newest to every
 * saga instance they concern, reading from the entity whatever the batch does not carry. True if
 * the sagas' checkpoint is to advance (false: they already had everything).
 */
async function deliverToSagas(env: Env, app: CloudApp, group: EntityGroup, from: number): Promise<boolean> {
  const concerns = (facts: readonly RecordedEvent[]): boolean => concernsSagas(app.sagas, facts);
  let sagas = planSagas(group, from, app.sagas.length > 0, concerns);
  if (sagas.kind === "none") return false;
  faultPoint("saga.deliver", group.address);
  if (sagas.kind === "repair") {
    // A lost fact that started a saga may reach the cloud only through this repair.
    await repair(env, group, sagas.from, sagas.upTo);
    sagas = planSagas(group, from, true, concerns);
  }
  if (sagas.kind === "deliver") await deliverFactsToSagas(env, app.sagas, sagas.events);
  return true;
}

/** Reads the facts after `from` up to `upTo` from the entity itself, keeping those the batch lacks in `repaired`. */
async function repair(env: Env, group: EntityGroup, from: number, upTo: number): Promise<RecordedEvent[]> {
  const facts = await readFromEntity(env, group.address, from, upTo);
  if (!repairComplete(facts, from, upTo)) throw new Error(`entity log is missing facts ${from + 1}..${upTo}`);
  for (const event of facts) if (!group.events.has(event.seq)) group.repaired.set(event.seq, event);
  return facts;
}

async function groupByEntity(db: Db, app: CloudApp, messages: readonly Message<unknown>[]): Promise<EntityGroup[]> {
  const groups = new Map<string, EntityGroup>();
  for (const message of messages) {
    const parsed = cloudEventSchema.safeParse(message.body);
    if (!parsed.success) {
      // Not ours, or corrupted: retrying cannot help.
      await recordDeadLetter(
        db,
        message,
        null,
        `not a Factline fact: ${describeFieldErrors(fieldErrors(parsed.error))}`,
      );
      message.ack();
      continue;
    }
    const event = upcast(app, fromCloudEvent(parsed.data));
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

function followers(app: CloudApp, entityType: string): Projection[] {
  return app.projections.filter((p) => p.follows.includes(entityType));
}

/** Every (projection, generation) that this entity's facts must reach. */
function targets(
  app: CloudApp,
  g: EntityGroup,
  gens: Map<string, Generations>,
): { projection: Projection; key: CheckpointKey }[] {
  return followers(app, g.address.entityType).flatMap((projection) =>
    liveGenerations(generationsOf(gens, projection.name, g.address.tenant)).map((generation) => ({
      projection,
      key: { projection: projection.name, generation, ...g.address },
    })),
  );
}

async function plan(
  env: Env,
  app: CloudApp,
  db: Db,
  group: EntityGroup,
  gens: Map<string, Generations>,
  applied: Map<string, number>,
): Promise<Statement[]> {
  faultPoint("consumer.apply", group.address);
  const statements: Statement[] = [];
  const upTo = newest(group);
  for (const { projection, key } of targets(app, group, gens)) {
    const from = applied.get(checkpointId(key)) ?? 0;
    const building = key.generation === generationsOf(gens, projection.name, group.address.tenant).building;
    let step = planTarget(group, from, upTo, building);
    if (step.kind === "repair") {
      // A gap: an earlier fact is late or lost. The entity's log is the truth; read it.
      await repair(env, group, step.from, step.upTo);
      step = planTarget(group, from, upTo, building);
    }
    if (step.kind === "apply") statements.push(...applyStatements(db, projection, key, step.from, step.events));
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
  return newestSeq(group);
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
    const disposition = onFailure(m.attempts);
    if (disposition.kind === "dead-letter") {
      await recordDeadLetter(db, m, null, detail);
      m.ack();
    } else {
      m.retry({ delaySeconds: disposition.delaySeconds });
    }
  }
}

/** Facts sent before a schema change arrive at their old version: lift them here too. */
function upcast(app: CloudApp, event: RecordedEvent): RecordedEvent {
  const entity = app.entities.get(event.meta.entityType);
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
