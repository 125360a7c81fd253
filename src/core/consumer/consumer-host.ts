// The facts queue consumer's whole batch sequence, one implementation for production's queue
// handler (cloud/consumer/fact-consumer.ts, over D1 through drizzle, Queues messages and entity
// RPC) and the simulator's (src/simulation/consumer.ts, over its D1 model): decode the messages
// (resolving parked-fact notices from their entity, dead-lettering what is no fact), group them
// per entity, read the generations and the checkpoints in one round trip each, plan every entity
// (entity-plan.ts) — repairing a gap from the entity's log — and write everything in one D1 batch
// guarded by the generations and checkpoints read; when that batch fails, plan again if a rebuild
// or a concurrent delivery moved them, else write entity by entity so one entity's failure holds
// back no other. Then the sagas, from their own checkpoint (F5), their checkpoint's advance, the
// messages' acks, the entities' acknowledgements; a failed entity's messages retry with growing
// delay and are dead-lettered after the last attempt (naming the projection, when one projection's
// handler threw while its statements were built). Every effect goes through `FactConsumerPorts`; the
// projections' statements come from the port (production: the projections' drizzle handlers; the
// simulator: its view rows' digests), so the host never knows what a statement is.
import type { RecordedEvent } from "../model/envelope.js";
import type { EntityAddress } from "../protocol/entity-protocol.js";
import { entityObjectName } from "../protocol/identifiers.js";
import {
  newestSeq,
  onFailure,
  planSagas,
  planTarget,
  repairComplete,
  type ConsumerMutations,
  type EntityFacts,
  type SagaPlan,
} from "./entity-plan.js";

/** A notice whose fact cannot be read yet (the entity busy or unreachable) is retried after this (s). */
export const PARKED_RETRY_SECONDS = 5;

/**
 * How many times one delivery plans its write when a concurrent writer keeps moving what it read
 * (another delivery of the same entities' facts, a rebuild): each round starts from what the last
 * refusal left, so contention costs a re-read, not a queue retry with its backoff and an attempt
 * towards the dead-letter queue. After the last, the entities are written one by one and a refused
 * one retries through the queue.
 */
const PLANNING_ROUNDS = 3;

/**
 * A projection's statements could not be built for an entity's facts (its handler threw while
 * the host planned): the failure names the projection, so the entity's failure log and its dead
 * letters say which read model to fix. Its message is `projection <name>: <the handler's error>`.
 */
export class ProjectionFailure extends Error {
  readonly projection: string;

  constructor(projection: string, cause: unknown) {
    super(`projection ${projection}: ${errorText(cause)}`, { cause });
    this.name = "ProjectionFailure";
    this.projection = projection;
  }
}

/** An error's text as the host logs and records it. */
function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A queue message as the host settles it (production wraps a Queues `Message`). */
export interface ConsumerMessage {
  /** Deliveries of this message so far, this one included (counting from 1). */
  readonly attempts: number;
  ack(): void;
  /** Back on the queue, visible again after `delaySeconds`. */
  retry(delaySeconds: number): void;
}

/** What a message carries: a fact (already lifted to its type's current schema), a parked fact's notice, or nothing the consumer can use. */
export type DecodedMessage<N> =
  | { readonly kind: "fact"; readonly event: RecordedEvent }
  | { readonly kind: "parked"; readonly notice: N }
  /**
   * Not a Factline fact (or corrupted), or a fact its upcaster cannot lift: retrying cannot help
   * (a fixed upcaster replays the dead letter); `error` says why.
   */
  | { readonly kind: "invalid"; readonly error: string };

/** The generations of one (projection, tenant): the one serving reads and the one a rebuild fills. */
export interface Generations {
  readonly active: number;
  readonly building: number | null;
}

/** What a missing generations row means: generation 0 serves reads, no rebuild. */
export const NO_GENERATIONS: Generations = { active: 0, building: null };

/** A (projection, tenant) pair the batch's facts reach. */
export interface ProjectionPair {
  readonly projection: string;
  readonly tenant: string;
}

/** A pair with the generations the consumer read for it (what the guard statement checks). */
export interface GenerationsRead extends ProjectionPair {
  readonly gens: Generations;
}

/** One projection generation's checkpoint of one entity. */
export interface CheckpointKey {
  readonly projection: string;
  readonly generation: number;
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
}

/** The newest fact seen of one entity, written with every batch (lag is measured and rebuilds list entities from it). */
export interface EntityHead extends EntityAddress {
  readonly seq: number;
  /** When the fact at `seq` was recorded, epoch ms. */
  readonly recordedAt: number;
}

/** The checkpoints read for a batch (missing ones are 0: nothing applied or delivered). */
export interface ConsumerProgress {
  /** The last seq applied to this projection generation of the entity. */
  applied(key: CheckpointKey): number;
  /** The last seq of the entity handed to the sagas (their own checkpoint, F5). */
  delivered(address: EntityAddress): number;
}

/** The fault points the host fires (production: src/core/resilience/fault-injection.ts; the simulator: its fault rates). */
export type ConsumerFaultPoint = "consumer.apply" | "consumer.batch" | "saga.deliver";

/**
 * Everything the consumer does outside itself, for messages `M`, statements `S` (run in all-or-
 * nothing batches) and parked-fact notices `N`. Reads may throw (the batch's entities then fail
 * and retry); `batch` throws when D1 refuses the batch, which then left nothing applied.
 */
export interface FactConsumerPorts<M extends ConsumerMessage, S, N> {
  decode(message: M): DecodedMessage<N>;
  /** The fact a parked notice names, read from its entity (and the notice recorded for operators); throws while it cannot be read. */
  fetchParked(notice: N): Promise<RecordedEvent>;
  /** Names of the projections following `entityType`. */
  followers(entityType: string): readonly string[];
  /** Whether the app has any saga at all. */
  readonly hasSagas: boolean;
  /** Whether any saga follows any of `facts`. */
  concernsSagas(facts: readonly RecordedEvent[]): boolean;

  /** The generations of each pair (one round trip); a pair without a row has `NO_GENERATIONS`. */
  readGenerations(pairs: readonly ProjectionPair[]): Promise<(pair: ProjectionPair) => Generations>;
  /** The projection checkpoints `keys` and the sagas' checkpoints of `addresses`, in one round trip. */
  readProgress(keys: readonly CheckpointKey[], addresses: readonly EntityAddress[]): Promise<ConsumerProgress>;

  /** Applies `events` (contiguous after `from`) to one projection generation, guarded by its checkpoint at `from`. */
  apply(key: CheckpointKey, from: number, events: readonly RecordedEvent[]): readonly S[];
  /** Fails its batch unless every pair still has the generations read. */
  generationsGuard(reads: readonly GenerationsRead[]): S;
  /** Raises each entity's head (never lowers one). */
  recordHeads(heads: readonly EntityHead[]): S;
  /** Raises each entity's sagas' checkpoint to `seq` (never lowers one). */
  advanceSagaCheckpoints(delivered: readonly { readonly address: EntityAddress; readonly seq: number }[]): S;
  /** Runs the statements as one D1 batch: all applied, or (on a throw) none. */
  batch(statements: readonly [S, ...S[]]): Promise<void>;

  /** The entity's facts with `after < seq ≤ upTo`, oldest first (over RPC; may come back short). */
  readEntity(address: EntityAddress, after: number, upTo: number): Promise<RecordedEvent[]>;
  /** Hands facts to every saga instance they concern (sagas deduplicate); throws if any delivery failed. */
  deliverToSagas(facts: readonly RecordedEvent[]): Promise<void>;
  /** Tells the entity its facts up to `seq` are consumed; a lost acknowledgement only delays the next. */
  acknowledge(address: EntityAddress, seq: number): Promise<void>;
  /**
   * Records a message given up on, with why, and the projection whose handler failed for it (a
   * `ProjectionFailure`), or null when no one projection failed (no fact, a D1 batch, a gap's
   * repair, the sagas' delivery).
   */
  recordDeadLetter(message: M, error: string, projection: string | null): Promise<void>;

  /** A fault point: throws to inject a failure (context: the entity, or none for the whole delivery). */
  fault(point: ConsumerFaultPoint, address: EntityAddress | undefined): void;
  /** A test's hold after the reads, before the write: a promise to await, or undefined. */
  pauseBeforeWrite(address: EntityAddress | undefined): Promise<void> | undefined;
  /** The entity's facts of this batch are applied and handed over (metrics, logs). */
  applied(address: EntityAddress, events: readonly RecordedEvent[]): void;
  /** The entity's facts failed with `error` (logs); its messages are settled by the host. */
  failed(address: EntityAddress, error: string): void;
  /** After a batch that carried facts: upkeep (production prunes the change feeds). */
  afterBatch(): Promise<void>;
  /** Epoch ms. */
  now(): number;
}

/** One entity's share of a batch: its messages, its facts, and earlier ones read back to fill a gap. */
interface EntityGroup<M extends ConsumerMessage> extends EntityFacts {
  readonly address: EntityAddress;
  readonly messages: M[];
  readonly events: Map<number, RecordedEvent>;
  /** Earlier facts read back from the entity to fill a gap: the sagas must see them too. */
  readonly repaired: Map<number, RecordedEvent>;
}

/**
 * The queue consumer over its ports. Stateless between batches: every batch decides from what
 * it reads, so concurrent invocations and redeliveries are safe (the checkpoint guards see to it).
 */
export class FactConsumer<M extends ConsumerMessage, S, N> {
  readonly #ports: FactConsumerPorts<M, S, N>;
  readonly #mutations: ConsumerMutations;

  /** `mutations`: test-only defects (entity-plan.ts); production passes none. */
  constructor(ports: FactConsumerPorts<M, S, N>, mutations: ConsumerMutations = {}) {
    this.#ports = ports;
    this.#mutations = mutations;
  }

  /** Consumes one delivery: every message ends acked or retried. Throws only on a bug. */
  async consume(messages: readonly M[]): Promise<void> {
    const ports = this.#ports;
    const groups = await this.#groupByEntity(messages);
    if (groups.length === 0) return;

    // Groups whose facts no saga follows: their saga checkpoint advances in the projections' own
    // write, sparing a D1 round trip.
    const sagaFree = new Set<EntityGroup<M>>();
    const { settled, progress } = await this.#applyToProjections(groups, (group, progress) => {
      const sagas = this.#planSagas(group, progress.delivered(group.address), ports.hasSagas);
      if (sagas.kind === "deliver" || sagas.kind === "repair") return [];
      sagaFree.add(group);
      return sagas.kind === "advance"
        ? [ports.advanceSagaCheckpoints([{ address: group.address, seq: sagas.upTo }])]
        : [];
    });
    // Projections are applied and checkpointed (a retry skips them); the sagas come next, from their
    // own checkpoint, so a fact projections applied but sagas never got is handed over on a retry.
    const handed = await Promise.all(
      settled.map(async (group) => {
        if (sagaFree.has(group)) return { group, advanced: false };
        try {
          return { group, advanced: await this.#deliverToSagas(group, progress.delivered(group.address)) };
        } catch (error) {
          await this.#fail(group, error);
          return undefined;
        }
      }),
    );
    const done = handed.flatMap((h) => (h ? [h.group] : []));
    const advanced = handed.flatMap((h) => (h?.advanced ? [h.group] : []));
    let consumed = done;
    if (advanced.length > 0) {
      try {
        await ports.batch([
          ports.advanceSagaCheckpoints(advanced.map((g) => ({ address: g.address, seq: newestSeq(g) }))),
        ]);
      } catch (error) {
        // Delivered but not recorded: the retry hands the same facts again (sagas deduplicate).
        for (const g of advanced) await this.#fail(g, error);
        consumed = done.filter((g) => !advanced.includes(g));
      }
    }
    for (const group of consumed) {
      ports.applied(group.address, [...group.events.values()]);
      for (const m of group.messages) m.ack();
    }
    // Tell each entity how far its facts are consumed (by projections and sagas both); a lost
    // acknowledgement only delays the next.
    await Promise.allSettled(consumed.map((g) => ports.acknowledge(g.address, newestSeq(g))));
    await ports.afterBatch();
  }

  /** Decodes the messages into per-entity groups; settles at once what is no fact, or a parked one not yet readable. */
  async #groupByEntity(messages: readonly M[]): Promise<EntityGroup<M>[]> {
    const ports = this.#ports;
    const groups = new Map<string, EntityGroup<M>>();
    for (const message of messages) {
      const decoded = ports.decode(message);
      let event: RecordedEvent;
      if (decoded.kind === "invalid") {
        // Not ours, corrupted, or unliftable: retrying cannot help.
        await ports.recordDeadLetter(message, decoded.error, null);
        message.ack();
        continue;
      }
      if (decoded.kind === "parked") {
        try {
          event = await ports.fetchParked(decoded.notice);
        } catch {
          message.retry(PARKED_RETRY_SECONDS);
          continue;
        }
      } else {
        event = decoded.event;
      }
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

  /**
   * Applies the groups to every live generation of every projection that follows them; returns
   * the groups now applied (failed ones are already settled for retry) and the progress read,
   * each group written together with the statements `alongside` gives for it (from the sagas'
   * checkpoints, read in the same query). The write is guarded by what was read (optimistic
   * concurrency): when a rebuild started or switched, or another delivery applied facts of these
   * entities, between the reads and the write, the write is refused and planned again from what
   * is there now, up to `PLANNING_ROUNDS` times. A refusal with nothing moved is a failure.
   */
  async #applyToProjections(
    groups: readonly EntityGroup<M>[],
    alongside: (group: EntityGroup<M>, progress: ConsumerProgress) => S[],
  ): Promise<{ settled: EntityGroup<M>[]; progress: ConsumerProgress }> {
    const ports = this.#ports;
    const pairs = this.#uniquePairs(groups);
    for (let round = 0; ; round++) {
      const gens = await ports.readGenerations(pairs);
      const keys = groups.flatMap((g) => this.#targets(g, gens).map((t) => t.key));
      const progress = await ports.readProgress(
        keys,
        groups.map((g) => g.address),
      );
      const plans: { group: EntityGroup<M>; statements: S[] }[] = [];
      const unplanned: { group: EntityGroup<M>; error: unknown }[] = [];
      for (const group of groups) {
        try {
          plans.push({
            group,
            statements: [...(await this.#plan(group, gens, progress)), ...alongside(group, progress)],
          });
        } catch (error) {
          unplanned.push({ group, error });
        }
      }
      const guard = ports.generationsGuard(pairs.map((p) => ({ ...p, gens: gens(p) })));
      const paused = ports.pauseBeforeWrite(groups[0]?.address);
      if (paused) await paused;
      try {
        if (plans.length > 0) {
          ports.fault("consumer.batch", undefined);
          await ports.batch([
            guard,
            ports.recordHeads(plans.map((p) => this.#headOf(p.group))),
            ...plans.flatMap((p) => p.statements),
          ]);
        }
        for (const u of unplanned) await this.#fail(u.group, u.error);
        return { settled: plans.map((p) => p.group), progress };
      } catch {
        if (round + 1 < PLANNING_ROUNDS && (await this.#readsMoved(pairs, gens, keys, progress))) continue;
        for (const u of unplanned) await this.#fail(u.group, u.error);
        // One entity's failure must not hold back the rest: apply entity by entity.
        const settled: EntityGroup<M>[] = [];
        for (const p of plans) {
          try {
            ports.fault("consumer.batch", p.group.address);
            await ports.batch([guard, ports.recordHeads([this.#headOf(p.group)]), ...p.statements]);
            settled.push(p.group);
          } catch (error) {
            await this.#fail(p.group, error);
          }
        }
        return { settled, progress };
      }
    }
  }

  /** Every (projection, tenant) the groups' facts reach, once each. */
  #uniquePairs(groups: readonly EntityGroup<M>[]): ProjectionPair[] {
    const pairs = new Map<string, ProjectionPair>();
    for (const g of groups)
      for (const projection of this.#ports.followers(g.address.entityType))
        pairs.set(`${projection}|${g.address.tenant}`, { projection, tenant: g.address.tenant });
    return [...pairs.values()];
  }

  /**
   * Whether another writer moved what a refused write was planned from: a pair's generations, or
   * a checkpoint of `keys` (a concurrent delivery of the same entities' facts). A failed re-read
   * counts as unchanged.
   */
  async #readsMoved(
    pairs: readonly ProjectionPair[],
    gens: (pair: ProjectionPair) => Generations,
    keys: readonly CheckpointKey[],
    progress: ConsumerProgress,
  ): Promise<boolean> {
    const ports = this.#ports;
    try {
      const gensNow = await ports.readGenerations(pairs);
      const generationsMoved = pairs.some((p) => {
        const a = gens(p);
        const b = gensNow(p);
        return a.active !== b.active || a.building !== b.building;
      });
      if (generationsMoved) return true;
      const now = await ports.readProgress(keys, []);
      return keys.some((k) => now.applied(k) !== progress.applied(k));
    } catch {
      return false;
    }
  }

  /** Every (projection, live generation) that this entity's facts must reach. */
  #targets(
    group: EntityGroup<M>,
    gens: (pair: ProjectionPair) => Generations,
  ): { key: CheckpointKey; building: boolean }[] {
    return this.#ports.followers(group.address.entityType).flatMap((projection) => {
      const g = gens({ projection, tenant: group.address.tenant });
      const live = g.building === null ? [g.active] : [g.active, g.building];
      return live.map((generation) => ({
        key: { projection, generation, ...group.address },
        building: generation === g.building,
      }));
    });
  }

  /** The statements applying the group to each of its targets, repairing a gap from the entity's log first. */
  async #plan(
    group: EntityGroup<M>,
    gens: (pair: ProjectionPair) => Generations,
    progress: ConsumerProgress,
  ): Promise<S[]> {
    this.#ports.fault("consumer.apply", group.address);
    const statements: S[] = [];
    const upTo = newestSeq(group);
    for (const { key, building } of this.#targets(group, gens)) {
      const from = progress.applied(key);
      let step = planTarget(group, from, upTo, building);
      if (step.kind === "repair") {
        // A gap: an earlier fact is late or lost. The entity's log is the truth; read it.
        await this.#repair(group, step.from, step.upTo);
        step = planTarget(group, from, upTo, building);
      }
      if (step.kind === "apply") statements.push(...this.#applyTo(key, step.from, step.events));
    }
    return statements;
  }

  /** One projection generation's statements for `events`; a handler's throw becomes a `ProjectionFailure` naming it. */
  #applyTo(key: CheckpointKey, from: number, events: readonly RecordedEvent[]): readonly S[] {
    try {
      return this.#ports.apply(key, from, events);
    } catch (error) {
      throw new ProjectionFailure(key.projection, error);
    }
  }

  #planSagas(group: EntityGroup<M>, from: number, hasSagas: boolean): SagaPlan {
    return planSagas(group, from, hasSagas, (facts) => this.#ports.concernsSagas(facts), this.#mutations);
  }

  /**
   * Hands the entity's facts after `from` (the sagas' checkpoint) up to the group's newest to
   * every saga instance they concern, reading from the entity whatever the batch does not carry.
   * True if the sagas' checkpoint is to advance (false: they already had everything).
   */
  async #deliverToSagas(group: EntityGroup<M>, from: number): Promise<boolean> {
    let sagas = this.#planSagas(group, from, this.#ports.hasSagas);
    if (sagas.kind === "none") return false;
    this.#ports.fault("saga.deliver", group.address);
    if (sagas.kind === "repair") {
      // A lost fact that started a saga may reach the cloud only through this repair.
      await this.#repair(group, sagas.from, sagas.upTo);
      sagas = this.#planSagas(group, from, true);
    }
    if (sagas.kind === "deliver") await this.#ports.deliverToSagas(sagas.events);
    return true;
  }

  /** Reads the facts after `from` up to `upTo` from the entity itself, keeping those the batch lacks in `repaired`. */
  async #repair(group: EntityGroup<M>, from: number, upTo: number): Promise<void> {
    const facts = await this.#ports.readEntity(group.address, from, upTo);
    if (!repairComplete(facts, from, upTo)) throw new Error(`entity log is missing facts ${from + 1}..${upTo}`);
    for (const event of facts) if (!group.events.has(event.seq)) group.repaired.set(event.seq, event);
  }

  /** The newest fact seen of the entity, so lag can be measured against it and rebuilds find it. */
  #headOf(group: EntityGroup<M>): EntityHead {
    const seq = newestSeq(group);
    const head = group.events.get(seq);
    return { ...group.address, seq, recordedAt: head ? Date.parse(head.meta.recordedAt) : this.#ports.now() };
  }

  /**
   * The group failed: its head is still recorded, and each message retries with backoff or, after
   * its last attempt, is a dead letter (naming the projection when one projection's handler failed).
   */
  async #fail(group: EntityGroup<M>, error: unknown): Promise<void> {
    const ports = this.#ports;
    const detail = errorText(error);
    const projection = error instanceof ProjectionFailure ? error.projection : null;
    ports.failed(group.address, detail);
    await ports.batch([ports.recordHeads([this.#headOf(group)])]).catch(() => undefined);
    for (const m of group.messages) {
      const disposition = onFailure(m.attempts);
      if (disposition.kind === "dead-letter") {
        await ports.recordDeadLetter(m, detail, projection);
        m.ack();
      } else {
        m.retry(disposition.delaySeconds);
      }
    }
  }
}
