// The queue consumer in the simulator, as cloud/consumer/fact-consumer.ts does it, with the same
// planning rules (src/core/consumer/entity-plan.ts) over the D1 model.
import {
  newestSeq,
  onFailure,
  planSagas,
  planTarget,
  repairComplete,
  type EntityFacts,
} from "../core/consumer/entity-plan.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import type { EntityAddress } from "../core/protocol/entity-protocol.js";
import { entityKey, generationsKey, NO_GENERATIONS, rowKey, type Generations, type SimStatement } from "./d1-model.js";
import { WORLD_LIMITS } from "./config.js";
import type { World } from "./world.js";

/** A message as the consumer sees it (production: the Queues `Message`). */
export interface ConsumerMessage {
  readonly event: RecordedEvent;
  readonly attempts: number;
  ack(): void;
  retry(delaySeconds: number): void;
}

interface Group extends EntityFacts {
  readonly address: EntityAddress;
  readonly key: string;
  readonly messages: ConsumerMessage[];
  readonly events: Map<number, RecordedEvent>;
  readonly repaired: Map<number, RecordedEvent>;
}

/** The queue consumer, as cloud/consumer/fact-consumer.ts does it, with the same planning rules. */
export class SimConsumer {
  readonly #world: World;

  constructor(world: World) {
    this.#world = world;
  }

  async consume(messages: readonly ConsumerMessage[]): Promise<void> {
    const world = this.#world;
    const groups = new Map<string, Group>();
    for (const m of messages) {
      const { tenant, entityType, entityId } = m.event.meta;
      const key = entityKey(tenant, entityType, entityId);
      let g = groups.get(key);
      if (!g) {
        g = { address: { tenant, entityType, entityId }, key, messages: [], events: new Map(), repaired: new Map() };
        groups.set(key, g);
      }
      g.messages.push(m);
      g.events.set(m.event.seq, m.event);
    }
    const all = [...groups.values()];
    const sagaFree = new Set<Group>();
    const hasSagas = world.app.sagas.length > 0;
    const { settled, delivered } = await this.#applyToProjections(all, (g, delivered) => {
      const sagas = planSagas(
        g,
        delivered.get(g.key) ?? 0,
        hasSagas,
        (facts) => world.concernsSagas(facts),
        world.mutations,
      );
      if (sagas.kind === "deliver" || sagas.kind === "repair") return [];
      sagaFree.add(g);
      return sagas.kind === "advance" ? [advanceSagaCheckpoint(g.key, sagas.upTo)] : [];
    });
    const handed = await Promise.all(
      settled.map(async (g) => {
        if (sagaFree.has(g)) return { g, advanced: false };
        try {
          return { g, advanced: await this.#deliverToSagas(g, delivered.get(g.key) ?? 0) };
        } catch (error) {
          await this.#fail(g, error);
          return undefined;
        }
      }),
    );
    const done = handed.flatMap((h) => (h ? [h.g] : []));
    const advanced = handed.flatMap((h) => (h?.advanced ? [h.g] : []));
    let consumed = done;
    if (advanced.length > 0) {
      try {
        await world.d1Batch(advanced.map((g) => advanceSagaCheckpoint(g.key, newestSeq(g))));
      } catch (error) {
        for (const g of advanced) await this.#fail(g, error);
        consumed = done.filter((g) => !advanced.includes(g));
      }
    }
    for (const g of consumed) for (const m of g.messages) m.ack();
    for (const g of consumed) await world.acknowledgeEntity(g.address, newestSeq(g));
  }

  async #applyToProjections(
    groups: readonly Group[],
    alongside: (g: Group, delivered: ReadonlyMap<string, number>) => SimStatement[],
  ): Promise<{ settled: Group[]; delivered: ReadonlyMap<string, number> }> {
    const world = this.#world;
    const pairs = new Map<string, { projection: string; tenant: string }>();
    for (const g of groups)
      for (const p of world.followers(g.address.entityType))
        pairs.set(generationsKey(p.name, g.address.tenant), { projection: p.name, tenant: g.address.tenant });
    for (let round = 0; ; round++) {
      await world.clock.sleep(WORLD_LIMITS.d1LatencyMs);
      const gens = new Map([...pairs.keys()].map((k) => [k, world.d1.generations.get(k) ?? NO_GENERATIONS] as const));
      await world.clock.sleep(WORLD_LIMITS.d1LatencyMs);
      // One read of the checkpoints this batch needs (production: one indexed query).
      const applied = new Map<string, number>();
      const delivered = new Map<string, number>();
      for (const g of groups) {
        const saga = world.d1.sagaCheckpoints.get(g.key);
        if (saga !== undefined) delivered.set(g.key, saga);
        for (const p of world.followers(g.address.entityType)) {
          const gen = gens.get(generationsKey(p.name, g.address.tenant)) ?? NO_GENERATIONS;
          for (const generation of gen.building === null ? [gen.active] : [gen.active, gen.building]) {
            const k = rowKey(p.name, generation, g.key);
            const seq = world.d1.checkpoints.get(k);
            if (seq !== undefined) applied.set(k, seq);
          }
        }
      }
      const plans: { g: Group; statements: SimStatement[] }[] = [];
      const unplanned: { g: Group; error: unknown }[] = [];
      for (const g of groups) {
        try {
          plans.push({ g, statements: [...(await this.#plan(g, gens, applied)), ...alongside(g, delivered)] });
        } catch (error) {
          unplanned.push({ g, error });
        }
      }
      const guard = generationsGuard(gens);
      try {
        if (plans.length > 0)
          await world.d1Batch([guard, recordHeads(plans.map((p) => p.g)), ...plans.flatMap((p) => p.statements)]);
        for (const u of unplanned) await this.#fail(u.g, u.error);
        return { settled: plans.map((p) => p.g), delivered };
      } catch {
        const moved = [...gens].some(
          ([k, read]) => !sameGenerations(world.d1.generations.get(k) ?? NO_GENERATIONS, read),
        );
        if (round === 0 && moved) continue;
        for (const u of unplanned) await this.#fail(u.g, u.error);
        const settled: Group[] = [];
        for (const p of plans) {
          try {
            await world.d1Batch([guard, recordHeads([p.g]), ...p.statements]);
            settled.push(p.g);
          } catch (error) {
            await this.#fail(p.g, error);
          }
        }
        return { settled, delivered };
      }
    }
  }

  async #plan(
    g: Group,
    gens: ReadonlyMap<string, Generations>,
    applied: ReadonlyMap<string, number>,
  ): Promise<SimStatement[]> {
    const world = this.#world;
    if (world.faults.strike("consumerApplyFail")) throw new Error("planning failed");
    const statements: SimStatement[] = [];
    const upTo = newestSeq(g);
    for (const projection of world.followers(g.address.entityType)) {
      const generations = gens.get(generationsKey(projection.name, g.address.tenant)) ?? NO_GENERATIONS;
      const live = generations.building === null ? [generations.active] : [generations.active, generations.building];
      for (const generation of live) {
        const checkpoint = rowKey(projection.name, generation, g.key);
        const from = applied.get(checkpoint) ?? 0;
        const building = generation === generations.building;
        let step = planTarget(g, from, upTo, building);
        if (step.kind === "repair") {
          await this.#repair(g, step.from, step.upTo);
          step = planTarget(g, from, upTo, building);
        }
        if (step.kind === "apply")
          statements.push(applyToView(projection.name, generation, g.key, g.address.tenant, step.from, step.events));
      }
    }
    return statements;
  }

  async #repair(g: Group, from: number, upTo: number): Promise<void> {
    const facts = await this.#world.readEntity(g.address, from, upTo);
    if (!repairComplete(facts, from, upTo)) throw new Error(`entity log is missing facts ${from + 1}..${upTo}`);
    for (const e of facts) if (!g.events.has(e.seq)) g.repaired.set(e.seq, e);
  }

  async #deliverToSagas(g: Group, from: number): Promise<boolean> {
    const world = this.#world;
    const concerns = (facts: readonly RecordedEvent[]): boolean => world.concernsSagas(facts);
    let sagas = planSagas(g, from, world.app.sagas.length > 0, concerns, world.mutations);
    if (sagas.kind === "none") return false;
    if (world.faults.strike("sagaDeliverFail")) throw new Error("saga delivery failed");
    if (sagas.kind === "repair") {
      await this.#repair(g, sagas.from, sagas.upTo);
      sagas = planSagas(g, from, true, concerns, world.mutations);
    }
    if (sagas.kind === "deliver") await world.deliverToSagas(sagas.events);
    return true;
  }

  async #fail(g: Group, error: unknown): Promise<void> {
    const world = this.#world;
    await world.d1Batch([recordHeads([g])]).catch(() => undefined);
    for (const m of g.messages) {
      const disposition = onFailure(m.attempts);
      if (disposition.kind === "dead-letter") {
        world.d1.deadLetters.push({
          tenant: g.address.tenant,
          entityKey: g.key,
          seq: m.event.seq,
          error: error instanceof Error ? error.message : String(error),
        });
        m.ack();
      } else {
        m.retry(disposition.delaySeconds);
      }
    }
  }
}

/** The digest of a run of facts extended by `event` (FNV-1a over its event id, chained). */
export function chainDigest(digest: number, event: RecordedEvent): number {
  let h = (digest ^ 0x811c9dc5) >>> 0;
  const id = event.meta.eventId;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function sameGenerations(a: Generations, b: Generations): boolean {
  return a.active === b.active && a.building === b.building;
}

/** Fails the batch unless every pair still has the generations the writer read. */
function generationsGuard(read: ReadonlyMap<string, Generations>): SimStatement {
  return (tx) => {
    for (const [k, gens] of read)
      if (!sameGenerations(tx.db.generations.get(k) ?? NO_GENERATIONS, gens)) throw new Error("generations moved");
  };
}

function recordHeads(groups: readonly Group[]): SimStatement {
  return (tx) => {
    for (const g of groups) {
      const seq = newestSeq(g);
      const prior = tx.db.heads.get(g.key);
      if (!prior || prior.seq < seq) tx.set("heads", g.key, { ...g.address, seq });
    }
  };
}

function advanceSagaCheckpoint(key: string, seq: number): SimStatement {
  return (tx) => {
    const prior = tx.db.sagaCheckpoints.get(key) ?? 0;
    if (seq > prior) tx.set("sagaCheckpoints", key, seq);
  };
}

/**
 * The checkpoint guard (a plain insert when `from` is 0, else a compare-and-set on `from`) and
 * the view row's fold of `events`, as applyStatements builds them (cloud/projections/checkpoints.ts).
 * The row folds a digest of the facts applied, in order: equal to the digest of the log exactly
 * when every fact was applied once, in order, with none missing.
 */
export function applyToView(
  projection: string,
  generation: number,
  entity: string,
  tenant: string,
  from: number,
  events: readonly RecordedEvent[],
): SimStatement {
  return (tx) => {
    const last = events[events.length - 1];
    if (!last) return;
    const checkpoint = rowKey(projection, generation, entity);
    const current = tx.db.checkpoints.get(checkpoint);
    if (from === 0 ? current !== undefined : current !== from) throw new Error(`checkpoint ${checkpoint} moved`);
    tx.set("checkpoints", checkpoint, last.seq);
    let row = tx.db.views.get(checkpoint) ?? { tenant, digest: 0, applied: 0, lastSeq: 0 };
    for (const e of events)
      row = { tenant, digest: chainDigest(row.digest, e), applied: row.applied + 1, lastSeq: e.seq };
    tx.set("views", checkpoint, row);
  };
}
