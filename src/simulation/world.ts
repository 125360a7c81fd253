// The simulated platform: entity objects (log, outbox, relay), the facts queue, the queue
// consumer over D1, saga objects and projection rebuilders, all on one simulated clock and fault
// stream. Each host performs the effects of the same pure machines production runs —
// src/core/entity/command-step.ts, src/core/outbox/relay.ts, src/core/consumer/entity-plan.ts,
// src/core/model/saga.ts — against models of storage that survive eviction (Durable Object
// storage, D1) and memory that does not. An object can be evicted at any await (an effect
// boundary): its code in flight stops, and its next caller or alarm wakes a fresh instance.
import { commandStep, type IdempotencyLookup, type MemoryImage } from "../core/entity/command-step.js";
import { newestSeq, onFailure, planSagas, planTarget, repairComplete, type ConsumerMutations, type EntityFacts } from "../core/consumer/entity-plan.js";
import type { EntityType } from "../core/model/entity.js";
import type { CommandResult, RecordedEvent } from "../core/model/envelope.js";
import {
  evolve as evolveSaga,
  factEvents,
  NEW_SAGA,
  operatorRetry,
  outcomeEvents,
  plan as planSaga,
  sagaInstanceId,
  taskIdempotencyKey,
  type DueTask,
  type SagaDefinition,
  type SagaEvent,
  type SagaRuntimePolicy,
  type SagaState,
  type TaskOutcome,
} from "../core/model/saga.js";
import {
  acknowledge,
  alarmAfterRun,
  batchAccepted,
  batchLength,
  probeDue,
  RELAY_CURSORS_AT_START,
  RELAY_MEMORY_AT_WAKE,
  RELAY_POLICY,
  retryAfterSeconds,
  sendOnCommit,
  type RelayCursors,
  type RelayMemory,
} from "../core/outbox/relay.js";
import { afterBacklogPage, livePush } from "../core/live/subscription.js";
import { afterSwitch, chooseGenerations, clearedByCleanup, switchAllowed } from "../core/projection/rebuild-rules.js";
import { queueMessageBytes, toCloudEvent } from "../core/protocol/cloud-event.js";
import type { CommandEnvelope, CommandOutcome, EntityAddress } from "../core/protocol/entity-protocol.js";
import { decodeHlc, HLC_ZERO } from "../core/protocol/hlc.js";
import { backoffDelay } from "../core/resilience/backoff.js";
import { ownValue } from "../core/model/own-keys.js";
import type { SimApp } from "./app.js";
import { ADMISSION_LIMITS, SimAdmission } from "./admission.js";
import { D1Model, entityKey, generationsKey, NO_GENERATIONS, rowKey, type Generations, type SimStatement } from "./d1-model.js";
import type { Faults } from "./faults.js";
import type { Prng } from "./prng.js";
import type { Scheduler } from "./scheduler.js";

/** Test-only switches that re-introduce fixed defects (see `npm run sim:mutants`). */
export interface Mutations extends ConsumerMutations {
  /** FINDINGS F3: the rebuild switch reads the active generation at finish time and clears it, unconditionally. */
  readonly rebuildSwitchReadsActive?: boolean;
}

/** Thrown into code in flight on an object that was evicted: it stops there. */
class Evicted extends Error {}

/** For work nobody awaits (production: `waitUntil`): an eviction ends it quietly, anything else is a bug. */
function ignoreEviction(error: unknown): void {
  if (!(error instanceof Evicted)) throw error;
}

/** Bounds of the world (the platform's configuration in the simulator). */
export const WORLD_LIMITS = {
  entityMaxBacklog: 250,
  consumerMaxBatch: 25,
  consumerMaxConcurrency: 3,
  maxQueueDelayMs: 20_000,
  /** Queue max_retries + 1: after this many deliveries the queue dead-letters a message itself. */
  queueMaxDeliveries: 6,
  rpcLatencyMs: 2,
  d1LatencyMs: 3,
  stallMs: 45_000,
  sagaCommandTimeoutMs: 10_000,
  sagaPolicy: { retry: { maxAttempts: 6, maxCompensationAttempts: 12, baseMs: 50, maxMs: 2_000 } } satisfies SagaRuntimePolicy,
} as const;

/** A canonical fingerprint of (command, body): equal for equal requests (production hashes the same text). */
export function fingerprintOf(command: string, data: unknown): string {
  return `${command}:${canonicalJson(data)}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** One Durable Object's storage and alarm, and its incarnation (bumped by each eviction). */
abstract class SimObject {
  alarmAt: number | null = null;
  incarnation = 0;
  protected readonly world: World;
  #alarmRetries = 0;

  constructor(world: World) {
    this.world = world;
  }

  protected abstract onEvict(): void;
  protected abstract onAlarm(): Promise<void>;

  evict(): void {
    this.incarnation++;
    this.onEvict();
  }

  /** An effect boundary: time passes, the object may be evicted, and code of a dead incarnation stops. */
  async boundary(latencyMs: number): Promise<void> {
    const incarnation = this.incarnation;
    await this.world.clock.sleep(latencyMs);
    if (this.world.faults.strike("evict")) this.evict();
    if (this.incarnation !== incarnation) throw new Evicted();
  }

  setAlarm(at: number): void {
    this.alarmAt = at;
    this.world.clock.at(at - this.world.clock.now, () => {
      if (this.alarmAt !== at) return;
      this.alarmAt = null;
      void this.#fire(at);
    });
  }

  deleteAlarm(): void {
    this.alarmAt = null;
  }

  async #fire(at: number): Promise<void> {
    try {
      await this.onAlarm();
      this.#alarmRetries = 0;
    } catch (error) {
      if (!(error instanceof Evicted)) throw error;
      // Alarms are at least once: a handler cut short is retried (with backoff, a few times).
      if (this.#alarmRetries++ < 6 && this.alarmAt === null) this.setAlarm(Math.max(at, this.world.clock.now) + 1_000 * 2 ** this.#alarmRetries);
    }
  }
}

/**
 * A live subscriber (an SSE client): the entity object holds its connection and cursor in memory,
 * so an eviction ends the connection, and the client reconnects after the last seq it received
 * (Last-Event-ID). `seen` is the client's side: every event must arrive as `seen + 1`.
 */
export class SimSubscriber {
  readonly tenant: string;
  readonly keyId: string;
  readonly entity: SimEntity;
  seen: number;
  cursor: number;
  live = false;
  connected = false;
  /** Ended for good: its key or tenant lost its standing (the client gets 401/403 on reconnect). */
  ended = false;
  readonly #world: World;

  constructor(world: World, tenant: string, keyId: string, entity: SimEntity, after: number) {
    this.#world = world;
    this.tenant = tenant;
    this.keyId = keyId;
    this.entity = entity;
    this.seen = after;
    this.cursor = after;
  }

  /** Connects through the tenant API (admission first), then opens the stream on the entity. */
  async connect(): Promise<void> {
    if (!(await this.#world.admission.admit(this.tenant, this.keyId))) {
      // Refused: a failed read is retried, a lost standing ends the subscription.
      if (this.#world.admission.standing(this.tenant, this.keyId)) this.#world.clock.at(1_000, () => void this.connect());
      else this.ended = true;
      return;
    }
    this.entity.subscribe(this);
    this.#revalidate();
  }

  /** The stream re-checks its key and tenant with the gate every LIVE_REVALIDATE_MS and ends when they lapse. */
  #revalidate(): void {
    this.#world.clock.at(ADMISSION_LIMITS.liveRevalidateMs, () => {
      if (!this.connected || this.ended) return;
      if (this.#world.admission.standing(this.tenant, this.keyId)) return this.#revalidate();
      this.ended = true;
      this.entity.unsubscribe(this);
    });
  }

  receive(events: readonly RecordedEvent[]): void {
    for (const e of events) {
      if (e.seq !== this.seen + 1) this.#world.anomaly(`subscriber of ${this.entity.address.entityId} after ${this.seen} was sent ${e.seq}`);
      if (e.meta.tenant !== this.tenant) this.#world.anomaly(`a subscriber of tenant ${this.tenant} was sent tenant ${e.meta.tenant}'s event`);
      this.seen = Math.max(this.seen, e.seq);
      this.#world.admission.checkLive(this.tenant, this.keyId);
    }
  }

  /** The connection ended: the client reconnects a moment later after the last seq it has. */
  dropped(): void {
    this.connected = false;
    this.live = false;
    this.#world.clock.at(200 + this.#world.faults.int(800), () => void this.connect());
  }
}

/** An entity object: its log, outbox, relay cursors and idempotency records (durable), and its memory image and relay memory (not). */
export class SimEntity extends SimObject {
  readonly address: EntityAddress;
  readonly type: EntityType;
  readonly log: RecordedEvent[] = [];
  readonly outbox = new Set<number>();
  cursors: RelayCursors = RELAY_CURSORS_AT_START;
  readonly idempotency = new Map<string, { readonly fingerprint: string; readonly result: CommandResult }>();
  #image: MemoryImage | null = null;
  #memory: RelayMemory = RELAY_MEMORY_AT_WAKE;
  #armedAt: number | null = null;
  #flushing: Promise<void> | null = null;
  readonly #sizes = new Map<number, number>();
  readonly #subscribers = new Set<SimSubscriber>();

  get subscribers(): ReadonlySet<SimSubscriber> {
    return this.#subscribers;
  }

  /** Opens (or reopens) a live subscription from the subscriber's last seq: the backlog page by page, then live. */
  subscribe(sub: SimSubscriber): void {
    sub.connected = true;
    sub.live = false;
    sub.cursor = sub.seen;
    this.#subscribers.add(sub);
    void this.#catchUp(sub).catch(ignoreEviction);
  }

  /** Ends a subscription (its standing lapsed). */
  unsubscribe(sub: SimSubscriber): void {
    sub.connected = false;
    sub.live = false;
    this.#subscribers.delete(sub);
  }

  async #catchUp(sub: SimSubscriber): Promise<void> {
    while (sub.connected && !sub.live) {
      await this.boundary(1);
      // Read, send and (at the head) turn live in one synchronous step: nothing falls between.
      const page = this.log.slice(sub.cursor, sub.cursor + 50);
      sub.receive(page);
      const next = afterBacklogPage(sub.cursor, page, this.log.length);
      sub.cursor = next.cursor;
      sub.live = next.live;
    }
  }

  #publish(events: readonly RecordedEvent[]): void {
    for (const sub of this.#subscribers) {
      if (!sub.live) continue;
      const push = livePush(sub.cursor, events);
      if (push.kind === "push") {
        sub.receive(events.slice(push.from));
        sub.cursor = push.cursor;
      } else if (push.kind === "catch-up") {
        sub.live = false;
        void this.#catchUp(sub).catch(ignoreEviction);
      }
    }
  }

  constructor(world: World, address: EntityAddress, type: EntityType) {
    super(world);
    this.address = address;
    this.type = type;
  }

  protected onEvict(): void {
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    for (const sub of subscribers) sub.dropped();
    this.#image = null;
    this.#memory = RELAY_MEMORY_AT_WAKE;
    this.#armedAt = null;
    this.#flushing = null;
  }

  protected async onAlarm(): Promise<void> {
    this.#armedAt = null;
    await this.#startFlush();
  }

  /** The memory image, rebuilt from the log after a wake-up (production: snapshot + tail). */
  get image(): MemoryImage {
    if (!this.#image) {
      const last = this.log[this.log.length - 1];
      this.#image = { state: this.type.fold(this.log), version: this.log.length, hlc: last ? (decodeHlc(last.meta.hlc) ?? last.meta.hlc) : HLC_ZERO };
    }
    return this.#image;
  }

  /** The command step, then its one storage transaction, then the relay's commit hook. */
  command(envelope: CommandEnvelope): CommandOutcome {
    const now = this.world.clock.now;
    const keyed = envelope.idempotencyKey !== null && envelope.fingerprint !== null;
    const step = commandStep({
      entity: this.type,
      image: this.image,
      envelope,
      now,
      idempotency: keyed ? this.#lookup(envelope.idempotencyKey, envelope.fingerprint) : null,
      backlog: Math.max(0, this.image.version - this.cursors.ackedUpTo),
      maxBacklog: WORLD_LIMITS.entityMaxBacklog,
      backlogRetryAfterS: retryAfterSeconds(this.#memory),
      newEventId: () => this.world.newId("ev"),
    });
    if (step.kind === "replay") return { ok: true, result: step.result, replayed: true };
    if (step.kind === "refused") return { ok: false, problem: step.problem };
    // One synchronous transaction: events, outbox rows, idempotency record.
    this.log.push(...step.recorded);
    for (const e of step.recorded) this.outbox.add(e.seq);
    if (keyed) this.idempotency.set(envelope.idempotencyKey, { fingerprint: envelope.fingerprint, result: step.result });
    this.#image = step.image;
    this.#publish(step.recorded);
    if (step.recorded.length > 0) {
      this.#arm(now + RELAY_POLICY.safetyNetMs);
      if (sendOnCommit(this.#memory, this.#flushing !== null)) void this.#startFlush().catch(ignoreEviction);
    }
    return { ok: true, result: step.result, replayed: false };
  }

  #lookup(key: string, fingerprint: string): IdempotencyLookup {
    const seen = this.idempotency.get(key);
    if (!seen) return { kind: "new" };
    return seen.fingerprint === fingerprint ? { kind: "replay", result: seen.result } : { kind: "mismatch" };
  }

  /** The consumer applied facts up to `seq`. */
  acknowledge(seq: number): void {
    const next = acknowledge(this.cursors, Math.min(seq, this.image.version), this.world.clock.now);
    if (!next) return;
    this.cursors = next;
    if (!this.#flushing && this.outbox.size === 0) this.#rearm(next.redeliverAt);
  }

  /** Facts after `after` up to `upTo` (the consumer's and rebuilder's read-back). */
  read(after: number, upTo: number): RecordedEvent[] {
    return this.log.slice(after, Math.min(upTo, this.log.length));
  }

  #startFlush(): Promise<void> {
    const incarnation = this.incarnation;
    this.#flushing ??= this.#flush().finally(() => {
      if (this.incarnation === incarnation) this.#flushing = null;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const world = this.world;
    const probe = probeDue(this.cursors, world.clock.now);
    if (probe) {
      this.outbox.add(probe.seq);
      this.cursors = probe.cursors;
      world.stats.probes++;
    }
    try {
      for (let i = 0; i < RELAY_POLICY.batchesPerRun && this.outbox.size > 0; i++) {
        if (i > 0 && this.outbox.size < RELAY_POLICY.batchMessages) await this.boundary(RELAY_POLICY.sendSpacingMs);
        const batch = this.#nextBatch();
        const last = batch[batch.length - 1];
        if (!last) break;
        await this.boundary(WORLD_LIMITS.rpcLatencyMs);
        if (world.faults.strike("sendFail")) throw new Error("queue sendBatch failed");
        world.queue.enqueue(batch);
        // A crash here (after the queue accepted, before the outbox is marked) re-sends: a duplicate.
        await this.boundary(0);
        for (const seq of [...this.outbox]) if (seq <= last.seq) this.outbox.delete(seq);
        this.#memory = { ...this.#memory, batchCap: RELAY_POLICY.batchMessages };
        this.cursors = batchAccepted(this.cursors, last.seq, world.clock.now);
      }
      this.#memory = { ...this.#memory, sendFailures: 0 };
      this.#arm(alarmAfterRun({ failed: false, pending: this.outbox.size, sendFailures: 0 }, this.cursors, world.clock.now) ?? Number.POSITIVE_INFINITY);
    } catch (error) {
      if (error instanceof Evicted) throw error;
      const sendFailures = this.#memory.sendFailures + 1;
      this.#memory = { ...this.#memory, sendFailures };
      this.#arm(alarmAfterRun({ failed: true, pending: this.outbox.size, sendFailures }, this.cursors, world.clock.now) ?? world.clock.now);
    }
  }

  /** The pending range in log order, as many as one batch takes within the queue's limits. */
  #nextBatch(): RecordedEvent[] {
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const seq of this.outbox) {
      if (seq < first) first = seq;
      if (seq > last) last = seq;
    }
    if (last === 0) return [];
    const upTo = Math.min(last, first + this.#memory.batchCap - 1);
    const events = this.log.slice(first - 1, upTo);
    const sizes = events.map((e) => {
      let size = this.#sizes.get(e.seq);
      if (size === undefined) {
        size = queueMessageBytes(toCloudEvent(e));
        this.#sizes.set(e.seq, size);
      }
      return size;
    });
    return events.slice(0, batchLength(sizes));
  }

  #arm(at: number): void {
    if (!Number.isFinite(at) || (this.#armedAt !== null && this.#armedAt <= at)) return;
    this.#armedAt = at;
    this.setAlarm(at);
  }

  #rearm(at: number | null): void {
    if (at === this.#armedAt) return;
    if (at === null) this.deleteAlarm();
    else this.setAlarm(at);
    this.#armedAt = at;
  }
}

/** A message on the facts queue. */
interface QueuedMessage {
  readonly id: number;
  readonly event: RecordedEvent;
  attempts: number;
  visibleAt: number;
  inFlight: boolean;
}

/** The facts queue: at least once, in no order; drops, duplicates and delays are faults. */
export class SimQueue {
  readonly #world: World;
  readonly messages = new Map<number, QueuedMessage>();
  #nextId = 1;
  #pollAt: number | null = null;
  inFlight = 0;

  constructor(world: World) {
    this.#world = world;
  }

  enqueue(events: readonly RecordedEvent[]): void {
    const { faults, clock } = this.#world;
    for (const event of events) {
      if (faults.strike("queueDrop")) continue;
      const copies = faults.strike("queueDuplicate") ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const delay = faults.strike("queueDelay") ? faults.int(WORLD_LIMITS.maxQueueDelayMs) : 0;
        const id = this.#nextId++;
        this.messages.set(id, { id, event, attempts: 0, visibleAt: clock.now + delay, inFlight: false });
        this.#kick(delay);
      }
    }
  }

  #kick(delayMs: number): void {
    const at = this.#world.clock.now + delayMs;
    if (this.#pollAt !== null && this.#pollAt <= at) return;
    this.#pollAt = at;
    this.#world.clock.at(delayMs, () => {
      if (this.#pollAt === at) this.#pollAt = null;
      this.#poll();
    });
  }

  /** Starts consumer invocations while visible messages wait and concurrency allows. */
  #poll(): void {
    const world = this.#world;
    const now = world.clock.now;
    let nextVisible = Number.POSITIVE_INFINITY;
    while (this.inFlight < WORLD_LIMITS.consumerMaxConcurrency) {
      const visible: QueuedMessage[] = [];
      for (const m of this.messages.values()) {
        if (m.inFlight) continue;
        if (m.visibleAt <= now) visible.push(m);
        else nextVisible = Math.min(nextVisible, m.visibleAt);
      }
      if (visible.length === 0) break;
      // No ordering guarantee: a random selection in a random order.
      const size = 1 + world.faults.int(WORLD_LIMITS.consumerMaxBatch);
      const batch: QueuedMessage[] = [];
      while (batch.length < size && visible.length > 0) {
        const i = world.faults.int(visible.length);
        const [m] = visible.splice(i, 1);
        if (m) batch.push(m);
      }
      for (const m of batch) {
        m.inFlight = true;
        m.attempts++;
      }
      this.inFlight++;
      void this.#deliver(batch);
    }
    if (Number.isFinite(nextVisible)) this.#kick(nextVisible - now);
  }

  async #deliver(batch: QueuedMessage[]): Promise<void> {
    const world = this.#world;
    const outcomes = new Map<number, { kind: "ack" } | { kind: "retry"; delaySeconds: number }>();
    const handles: ConsumerMessage[] = batch.map((m) => ({
      event: m.event,
      attempts: m.attempts,
      ack: () => outcomes.set(m.id, { kind: "ack" }),
      retry: (delaySeconds) => outcomes.set(m.id, { kind: "retry", delaySeconds }),
    }));
    try {
      await world.consumer.consume(handles);
    } catch (error) {
      world.anomaly(`the consumer threw: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    }
    for (const m of batch) {
      const outcome = outcomes.get(m.id) ?? { kind: "retry" as const, delaySeconds: 1 };
      m.inFlight = false;
      if (outcome.kind === "ack") {
        this.messages.delete(m.id);
        continue;
      }
      if (m.attempts >= WORLD_LIMITS.queueMaxDeliveries) {
        // The queue's own dead-letter queue: the fact reaches the view again only through a probe and repair.
        this.messages.delete(m.id);
        world.stats.queueDeadLetters++;
        continue;
      }
      m.visibleAt = world.clock.now + outcome.delaySeconds * 1000;
    }
    this.inFlight--;
    this.#kick(0);
  }
}

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
      const sagas = planSagas(g, delivered.get(g.key) ?? 0, hasSagas, (facts) => world.concernsSagas(facts), world.mutations);
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
    for (const g of groups) for (const p of world.followers(g.address.entityType)) pairs.set(generationsKey(p.name, g.address.tenant), { projection: p.name, tenant: g.address.tenant });
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
        if (plans.length > 0) await world.d1Batch([guard, recordHeads(plans.map((p) => p.g)), ...plans.flatMap((p) => p.statements)]);
        for (const u of unplanned) await this.#fail(u.g, u.error);
        return { settled: plans.map((p) => p.g), delivered };
      } catch {
        const moved = [...gens].some(([k, read]) => !sameGenerations(world.d1.generations.get(k) ?? NO_GENERATIONS, read));
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

  async #plan(g: Group, gens: ReadonlyMap<string, Generations>, applied: ReadonlyMap<string, number>): Promise<SimStatement[]> {
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
        if (step.kind === "apply") statements.push(applyToView(world, projection.name, generation, g.key, g.address.tenant, step.from, step.events));
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
        world.d1.deadLetters.push({ tenant: g.address.tenant, entityKey: g.key, seq: m.event.seq, error: error instanceof Error ? error.message : String(error) });
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
    for (const [k, gens] of read) if (!sameGenerations(tx.db.generations.get(k) ?? NO_GENERATIONS, gens)) throw new Error("generations moved");
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
export function applyToView(_world: World, projection: string, generation: number, entity: string, tenant: string, from: number, events: readonly RecordedEvent[]): SimStatement {
  return (tx) => {
    const last = events[events.length - 1];
    if (!last) return;
    const checkpoint = rowKey(projection, generation, entity);
    const current = tx.db.checkpoints.get(checkpoint);
    if (from === 0 ? current !== undefined : current !== from) throw new Error(`checkpoint ${checkpoint} moved`);
    tx.set("checkpoints", checkpoint, last.seq);
    let row = tx.db.views.get(checkpoint) ?? { tenant, digest: 0, applied: 0, lastSeq: 0 };
    for (const e of events) row = { tenant, digest: chainDigest(row.digest, e), applied: row.applied + 1, lastSeq: e.seq };
    tx.set("views", checkpoint, row);
  };
}

/** A saga object: its event log and alarm (durable), its folded state (memory). */
export class SimSaga extends SimObject {
  readonly id: string;
  readonly tenant: string;
  readonly definition: SagaDefinition<unknown>;
  readonly log: SagaEvent[] = [];
  #state: SagaState | null = null;
  #driving: Promise<void> | null = null;
  #again = false;

  constructor(world: World, tenant: string, definition: SagaDefinition<unknown>, instanceKey: string) {
    super(world);
    this.tenant = tenant;
    this.definition = definition;
    this.id = sagaInstanceId(tenant, definition.name, instanceKey);
  }

  get state(): SagaState {
    if (!this.#state) {
      let s = NEW_SAGA;
      for (const e of this.log) s = evolveSaga(s, e);
      this.#state = s;
      // A restart may have cut a drive short before it re-armed: an unfinished saga always has a timer.
      if ((s.status === "running" || s.status === "compensating") && this.alarmAt === null) this.setAlarm(this.world.clock.now);
    }
    return this.#state;
  }

  protected onEvict(): void {
    this.#state = null;
    this.#driving = null;
    this.#again = false;
  }

  protected async onAlarm(): Promise<void> {
    await this.#drive();
  }

  deliver(facts: readonly RecordedEvent[]): void {
    const now = this.world.clock.now;
    let recorded = 0;
    for (const fact of facts) recorded += this.#append(factEvents(this.definition, this.state, this.id, fact, now));
    if (recorded > 0) this.#wake(now);
  }

  /** The operator's retry of a saga that needs attention. */
  operatorRetry(): boolean {
    const events = operatorRetry(this.state, this.world.clock.now);
    if (!events) return false;
    this.#append(events);
    this.#wake(this.world.clock.now);
    return true;
  }

  #append(events: readonly SagaEvent[]): number {
    let s = this.state;
    for (const e of events) {
      this.log.push(e);
      s = evolveSaga(s, e);
    }
    this.#state = s;
    return events.length;
  }

  #wake(at: number): void {
    if (this.alarmAt === null || this.alarmAt > at) this.setAlarm(at);
  }

  async #drive(): Promise<void> {
    if (this.#driving) {
      this.#again = true;
      return this.#driving;
    }
    const incarnation = this.incarnation;
    this.#driving = (async () => {
      try {
        do {
          this.#again = false;
          await this.#rounds();
        } while (this.#again);
      } finally {
        if (this.incarnation === incarnation) this.#driving = null;
      }
    })();
    return this.#driving;
  }

  async #rounds(): Promise<void> {
    const world = this.world;
    const policy = WORLD_LIMITS.sagaPolicy;
    for (let round = 0; round < 64; round++) {
      const now = world.clock.now;
      const next = planSaga(this.definition, this.state, now, policy);
      if (next.kind === "record") {
        this.#append(next.events);
        continue;
      }
      if (next.kind === "wait") {
        if (next.wakeAt !== null) this.setAlarm(Math.max(next.wakeAt, now));
        return;
      }
      const incarnation = this.incarnation;
      const outcomes = await Promise.all(next.tasks.map(async (due) => ({ due, outcome: await this.#run(due) })));
      if (this.incarnation !== incarnation) throw new Evicted();
      const at = world.clock.now;
      for (const { due, outcome } of outcomes) {
        const attempts = (ownValue(this.state.attempts, due.task.key)?.count ?? 0) + 1;
        this.#append(outcomeEvents(this.state, due, outcome, at, backoffDelay(attempts, policy.retry)));
      }
      await this.boundary(0);
    }
    this.setAlarm(world.clock.now);
  }

  async #run(due: DueTask): Promise<TaskOutcome> {
    const world = this.world;
    const action = due.action;
    const key = (action.kind === "call" ? action.idempotencyKey : undefined) ?? taskIdempotencyKey(this.id, due.task.key, due.phase);
    if (action.kind === "call") {
      const service = ownValue(world.app.services, action.service);
      if (!service) return { kind: "rejected", reason: `no service ${action.service}` };
      return service.call(action.operation, action.data, { tenant: this.tenant, idempotencyKey: key, world });
    }
    const type = world.entityType(action.entityType);
    const parsed = type.parseCommand(action.command, action.data);
    if (!parsed?.ok) return { kind: "rejected", reason: `invalid ${action.entityType}.${action.command}` };
    // The saga host bounds an entity command by a timeout (COMMAND_TIMEOUT_MS); the command may still run later.
    const outcome = await Promise.race([world.clock.sleep(WORLD_LIMITS.sagaCommandTimeoutMs).then(() => "failed" as const), world.rpcCommand({
      tenant: this.tenant,
      entityType: action.entityType,
      entityId: action.entityId,
      command: action.command,
      data: parsed.command.data,
      idempotencyKey: key,
      fingerprint: fingerprintOf(action.command, action.data),
      expectedVersion: null,
      causeHlc: this.state.clock,
      correlationId: this.id,
      causationId: this.state.causation,
      traceparent: null,
    })]);
    if (outcome === "failed") return { kind: "failed", error: "the entity did not answer" };
    if (outcome.ok) {
      const last = outcome.result.events[outcome.result.events.length - 1];
      return { kind: "done", result: { version: outcome.result.version }, ...(last ? { clock: last.meta.hlc, eventId: last.meta.eventId } : {}) };
    }
    const p = outcome.problem;
    if (p.status === 409 || p.status === 429 || p.status >= 500) return { kind: "failed", error: p.detail };
    return { kind: "rejected", reason: p.detail, ...(p.code ? { code: p.code } : {}) };
  }
}

/** A rebuild job as the rebuilder object stores it. */
interface RebuildJob {
  phase: "preparing" | "replaying" | "clearing";
  generation: number;
  previous: number;
  pending: string[];
  failures: number;
}

/**
 * A projection rebuilder (one object per projection and tenant), stepping as
 * cloud/projections/projection-rebuilder.ts does, with the same decisions
 * (src/core/projection/rebuild-rules.ts): claim, prepare (record the previous generation, mark
 * the next as building, list the entities), replay logs into the new generation under the same
 * checkpoint guards as the consumer, re-scan, switch conditionally, clear the others.
 */
export class SimRebuilder extends SimObject {
  readonly projection: string;
  readonly tenant: string;
  job: RebuildJob | null = null;

  constructor(world: World, projection: string, tenant: string) {
    super(world);
    this.projection = projection;
    this.tenant = tenant;
  }

  protected onEvict(): void {}

  /** Claims the job before any await; false (409) when one runs. */
  start(): boolean {
    if (this.job) return false;
    this.job = { phase: "preparing", generation: 0, previous: 0, pending: [], failures: 0 };
    this.setAlarm(this.world.clock.now);
    return true;
  }

  protected async onAlarm(): Promise<void> {
    const job = this.job;
    if (!job) return;
    try {
      await this.boundary(WORLD_LIMITS.d1LatencyMs);
      if (job.phase === "preparing") await this.#prepare(job);
      else if (job.phase === "replaying") await this.#replay(job);
      else await this.#clear(job);
      job.failures = 0;
      if (this.job) this.setAlarm(this.world.clock.now + 10);
    } catch (error) {
      if (error instanceof Evicted) throw error;
      job.failures++;
      this.setAlarm(this.world.clock.now + Math.min(300_000, 1_000 * 2 ** (job.failures - 1)));
    }
  }

  #gensKey(): string {
    return generationsKey(this.projection, this.tenant);
  }

  #follows(): readonly string[] {
    return this.world.app.projections.find((p) => p.name === this.projection)?.follows ?? [];
  }

  /** Entity keys whose head the cloud tier has seen, for this tenant and projection. */
  #known(): { key: string; seq: number }[] {
    const follows = this.#follows();
    return [...this.world.d1.heads].filter(([, h]) => h.tenant === this.tenant && follows.includes(h.entityType)).map(([key, h]) => ({ key, seq: h.seq }));
  }

  async #prepare(job: RebuildJob): Promise<void> {
    const world = this.world;
    if (job.generation === 0) {
      let written: number | null = null;
      for (const k of world.d1.checkpoints.keys()) {
        const [p, g, t] = k.split("|");
        if (p === this.projection && t === this.tenant) written = Math.max(written ?? 0, Number(g));
      }
      const chosen = chooseGenerations(world.d1.generations.get(this.#gensKey()) ?? null, written);
      job.generation = chosen.generation;
      job.previous = chosen.previous;
    }
    const { generation, previous } = job;
    const key = this.#gensKey();
    await world.d1Batch([(tx) => tx.set("generations", key, { active: previous, building: generation })]);
    await this.boundary(0);
    job.pending = this.#known().map((k) => k.key);
    job.phase = "replaying";
  }

  async #replay(job: RebuildJob): Promise<void> {
    const world = this.world;
    const batch = job.pending.slice(0, 20);
    if (batch.length === 0) return this.#finishReplay(job);
    const statements: SimStatement[] = [];
    const caughtUp: string[] = [];
    for (const key of batch) {
      const entity = world.entities.get(key);
      if (!entity) {
        caughtUp.push(key);
        continue;
      }
      const from = world.d1.checkpoints.get(rowKey(this.projection, job.generation, key)) ?? 0;
      const events = await world.readEntity(entity.address, from, from + 1_000);
      await this.boundary(0);
      if (events.length > 0) statements.push(applyToView(world, this.projection, job.generation, key, this.tenant, from, events));
      if (from + events.length >= entity.log.length) caughtUp.push(key);
    }
    if (statements.length > 0) await world.d1Batch(statements);
    await this.boundary(0);
    job.pending = job.pending.filter((k) => !caughtUp.includes(k));
  }

  /** Re-scans for entities behind in the new generation; with none, switches. */
  async #finishReplay(job: RebuildJob): Promise<void> {
    const world = this.world;
    const behind = this.#known().filter((k) => k.seq > (world.d1.checkpoints.get(rowKey(this.projection, job.generation, k.key)) ?? 0));
    if (behind.length > 0) {
      job.pending = behind.map((k) => k.key);
      return;
    }
    const key = this.#gensKey();
    if (world.mutations.rebuildSwitchReadsActive) {
      // F3 as it was: the old generation is whatever is active now; switch and clear it in one batch.
      const old = (world.d1.generations.get(key) ?? NO_GENERATIONS).active;
      const projection = this.projection;
      const tenant = this.tenant;
      await world.d1Batch([
        (tx) => tx.set("generations", key, { active: job.generation, building: null }),
        (tx) => {
          for (const k of [...tx.db.views.keys()]) if (k.startsWith(`${projection}|${old}|${tenant}|`)) tx.delete("views", k);
        },
      ]);
      await this.boundary(0);
      this.job = null;
      return;
    }
    const { generation } = job;
    await world.d1Batch([
      (tx) => {
        const anyBehind = this.#known().some((k) => k.seq > (tx.db.checkpoints.get(rowKey(this.projection, generation, k.key)) ?? 0));
        if (switchAllowed(job, tx.db.generations.get(key) ?? null, anyBehind)) tx.set("generations", key, { active: generation, building: null });
      },
    ]);
    await this.boundary(0);
    const next = afterSwitch(job, world.d1.generations.get(key) ?? null);
    if (next === "rescan") return;
    if (next === "clear") {
      job.phase = "clearing";
      return;
    }
    world.anomaly(`rebuild of ${this.projection} for ${this.tenant} abandoned: generations changed under it`);
    this.job = null;
  }

  /** Clears every generation of this projection and tenant but the job's own, then ends the job. */
  async #clear(job: RebuildJob): Promise<void> {
    const { projection, tenant } = this;
    const others = (k: string): boolean => {
      const [p, g, t] = k.split("|");
      return p === projection && t === tenant && clearedByCleanup(job, Number(g));
    };
    await this.world.d1Batch([
      (tx) => {
        for (const k of [...tx.db.views.keys()]) if (others(k)) tx.delete("views", k);
        for (const k of [...tx.db.checkpoints.keys()]) if (others(k)) tx.delete("checkpoints", k);
      },
    ]);
    await this.boundary(0);
    this.job = null;
  }
}

/** Counters of what happened in a run. */
export interface WorldStats {
  commands: number;
  accepted: number;
  probes: number;
  queueDeadLetters: number;
  rebuilds: number;
}

/** The whole simulated platform for one app. */
export class World {
  readonly app: SimApp;
  readonly clock: Scheduler;
  readonly faults: Faults;
  readonly prng: Prng;
  readonly mutations: Mutations;
  readonly d1 = new D1Model();
  readonly queue: SimQueue;
  readonly consumer: SimConsumer;
  readonly admission: SimAdmission;
  readonly entities = new Map<string, SimEntity>();
  readonly sagas = new Map<string, SimSaga>();
  readonly rebuilders = new Map<string, SimRebuilder>();
  readonly subscribers: SimSubscriber[] = [];
  readonly anomalies: string[] = [];
  readonly stats: WorldStats = { commands: 0, accepted: 0, probes: 0, queueDeadLetters: 0, rebuilds: 0 };
  /** Every event id an accepted command was answered with, and where it must be in the log. */
  readonly accepted = new Map<string, { readonly key: string; readonly seq: number }>();
  readonly #types: ReadonlyMap<string, EntityType>;
  #ids = 0;

  constructor(app: SimApp, clock: Scheduler, faults: Faults, prng: Prng, mutations: Mutations = {}) {
    this.app = app;
    this.clock = clock;
    this.faults = faults;
    this.prng = prng;
    this.mutations = mutations;
    this.queue = new SimQueue(this);
    this.consumer = new SimConsumer(this);
    this.admission = new SimAdmission(this);
    this.#types = new Map(app.entities.map((e) => [e.type, e]));
  }

  anomaly(text: string): void {
    if (this.anomalies.length < 50) this.anomalies.push(`[t=${this.clock.now}] ${text}`);
  }

  newId(prefix: string): string {
    return `${prefix}-${(++this.#ids).toString(36)}`;
  }

  entityType(type: string): EntityType {
    const t = this.#types.get(type);
    if (!t) throw new Error(`no entity type ${type}`);
    return t;
  }

  followers(entityType: string): readonly { readonly name: string }[] {
    return this.app.projections.filter((p) => p.follows.includes(entityType));
  }

  entity(address: EntityAddress): SimEntity {
    const key = entityKey(address.tenant, address.entityType, address.entityId);
    let e = this.entities.get(key);
    if (!e) {
      e = new SimEntity(this, { tenant: address.tenant, entityType: address.entityType, entityId: address.entityId }, this.entityType(address.entityType));
      this.entities.set(key, e);
    }
    return e;
  }

  concernsSagas(facts: readonly RecordedEvent[]): boolean {
    return facts.some((f) => this.app.sagas.some((s) => s.instanceOf(f) !== null));
  }

  /** One D1 round trip running `statements` as a batch; fails before or after committing as faults say. */
  async d1Batch(statements: readonly SimStatement[]): Promise<void> {
    await this.clock.sleep(WORLD_LIMITS.d1LatencyMs);
    if (this.faults.strike("d1FailBefore")) throw new Error("D1 unavailable");
    this.d1.batch(statements);
    if (this.faults.strike("d1FailAfter")) throw new Error("D1 answer lost after commit");
  }

  /**
   * A command over RPC: it may fail before the object acts, or act and time out, or stall past a
   * stage's timeout. "failed" when the caller saw no answer.
   */
  async rpcCommand(envelope: CommandEnvelope): Promise<CommandOutcome | "failed"> {
    const target = this.entity(envelope);
    await this.clock.sleep(this.faults.strike("rpcStall") ? WORLD_LIMITS.stallMs : WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("evict")) target.evict();
    if (this.faults.strike("rpcFailBefore")) return "failed";
    this.stats.commands++;
    const outcome = target.command(envelope);
    this.#check(target, envelope, outcome);
    await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("rpcTimeoutAfter")) return "failed";
    return outcome;
  }

  /** Checked on every answer: events exactly once where the answer says, and the app's state rules. */
  #check(target: SimEntity, envelope: CommandEnvelope, outcome: CommandOutcome): void {
    if (!outcome.ok) return;
    const key = entityKey(envelope.tenant, envelope.entityType, envelope.entityId);
    for (const e of outcome.result.events) {
      const at = target.log[e.seq - 1];
      if (!at || at.meta.eventId !== e.meta.eventId) this.anomaly(`${key}: answered event ${e.seq} (${e.type}) is not in the log at its seq`);
      if (e.meta.tenant !== envelope.tenant) this.anomaly(`${key}: event of tenant ${e.meta.tenant} answered to tenant ${envelope.tenant}`);
      if (!outcome.replayed) {
        if (this.accepted.has(e.meta.eventId)) this.anomaly(`${key}: event id ${e.meta.eventId} recorded twice`);
        this.accepted.set(e.meta.eventId, { key, seq: e.seq });
      }
    }
    if (outcome.replayed) return;
    this.stats.accepted++;
    const state = target.image.state;
    const broken = this.app.checkState?.(envelope.entityType, state);
    if (broken) this.anomaly(`${key}: ${broken} after ${envelope.command} ${JSON.stringify(envelope.data)}`);
  }

  /** The consumer reads an entity's log over RPC (gap repair). */
  async readEntity(address: EntityAddress, from: number, upTo: number): Promise<RecordedEvent[]> {
    await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("rpcFailBefore")) throw new Error("entity read failed");
    return this.entity(address).read(from, upTo);
  }

  /** The consumer's acknowledgement; lost like any RPC. */
  async acknowledgeEntity(address: EntityAddress, seq: number): Promise<void> {
    await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("rpcFailBefore")) return;
    const target = this.entity(address);
    if (this.faults.strike("evict")) target.evict();
    target.acknowledge(seq);
  }

  saga(tenant: string, definition: SagaDefinition<unknown>, instanceKey: string): SimSaga {
    const id = sagaInstanceId(tenant, definition.name, instanceKey);
    let s = this.sagas.get(id);
    if (!s) {
      s = new SimSaga(this, tenant, definition, instanceKey);
      this.sagas.set(id, s);
    }
    return s;
  }

  /** Hands facts to every saga instance they concern, one call per instance; each call may fail before or after acting. */
  async deliverToSagas(facts: readonly RecordedEvent[]): Promise<void> {
    const deliveries = new Map<SimSaga, RecordedEvent[]>();
    for (const fact of facts) {
      for (const definition of this.app.sagas) {
        const instanceKey = definition.instanceOf(fact);
        if (instanceKey === null) continue;
        const saga = this.saga(fact.meta.tenant, definition, instanceKey);
        deliveries.set(saga, [...(deliveries.get(saga) ?? []), fact]);
      }
    }
    await Promise.all(
      [...deliveries].map(async ([saga, list]) => {
        await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
        if (this.faults.strike("rpcFailBefore")) throw new Error("saga unavailable");
        if (this.faults.strike("evict")) saga.evict();
        saga.deliver(list.sort((a, b) => a.seq - b.seq));
        if (this.faults.strike("rpcTimeoutAfter")) throw new Error("saga answer lost");
      }),
    );
  }

  /** A client of `tenant` subscribes under `keyId` to an entity's events after `after`. */
  async subscribe(tenant: string, keyId: string, address: EntityAddress, after: number): Promise<void> {
    const sub = new SimSubscriber(this, tenant, keyId, this.entity(address), after);
    this.subscribers.push(sub);
    await sub.connect();
  }

  /** Starts a rebuild of `projection` for `tenant`; false when one is already running (409). */
  startRebuild(projection: string, tenant: string): boolean {
    const key = generationsKey(projection, tenant);
    let r = this.rebuilders.get(key);
    if (!r) {
      r = new SimRebuilder(this, projection, tenant);
      this.rebuilders.set(key, r);
    }
    const started = r.start();
    if (started) this.stats.rebuilds++;
    return started;
  }

  /** Facts of every entity log in the world, for invariants. */
  *allFacts(): Iterable<RecordedEvent> {
    for (const e of this.entities.values()) yield* e.log;
  }

  /** Whether nothing is left to do: queue empty, every fact acknowledged, every saga waiting on nothing. */
  quiet(): boolean {
    if (this.queue.messages.size > 0 || this.queue.inFlight > 0) return false;
    for (const e of this.entities.values()) if (e.outbox.size > 0 || e.cursors.ackedUpTo < e.log.length) return false;
    for (const s of this.sagas.values()) {
      const status = s.state.status;
      if (status === "running" || status === "compensating") return false;
    }
    for (const r of this.rebuilders.values()) if (r.job) return false;
    for (const sub of this.subscribers) if (!sub.ended && (!sub.live || sub.seen < sub.entity.log.length)) return false;
    return true;
  }

  /** Invariants that hold once the world is quiet; each violation is an anomaly. */
  checkQuiet(): void {
    const seen = new Set<string>();
    for (const [key, e] of this.entities) {
      e.log.forEach((event, i) => {
        if (event.seq !== i + 1) this.anomaly(`${key}: log has seq ${event.seq} at position ${i + 1}`);
        if (seen.has(event.meta.eventId)) this.anomaly(`${key}: event id ${event.meta.eventId} appears twice`);
        seen.add(event.meta.eventId);
        if (event.meta.tenant !== e.address.tenant) this.anomaly(`${key}: holds a fact of tenant ${event.meta.tenant}`);
      });
    }
    for (const [eventId, where] of this.accepted) {
      const e = this.entities.get(where.key);
      if (e?.log[where.seq - 1]?.meta.eventId !== eventId) this.anomaly(`${where.key}: accepted event ${where.seq} missing from the log`);
    }
    // Every view equals the fold of the logs it follows, in the active generation of each tenant.
    for (const projection of this.app.projections) {
      for (const [key, e] of this.entities) {
        if (!projection.follows.includes(e.address.entityType) || e.log.length === 0) continue;
        const gens = this.d1.generations.get(generationsKey(projection.name, e.address.tenant)) ?? NO_GENERATIONS;
        const row = this.d1.views.get(rowKey(projection.name, gens.active, key));
        const digest = e.log.reduce(chainDigest, 0);
        if (!row) this.anomaly(`view ${projection.name}: no row for ${key} (head ${e.log.length})`);
        else if (row.applied !== e.log.length || row.lastSeq !== e.log.length || row.digest !== digest || row.tenant !== e.address.tenant) {
          this.anomaly(`view ${projection.name}: row for ${key} applied ${row.applied} facts up to ${row.lastSeq}, the log has ${e.log.length}${row.digest === digest ? "" : "; not the log's facts in its order"}`);
        }
      }
    }
    // Every entity's memory image equals the fold of its log and survives a JSON round trip (T09).
    for (const [key, e] of this.entities) {
      if (e.log.length === 0) continue;
      const json = JSON.stringify(e.image.state);
      if (json !== JSON.stringify(e.type.fold(e.log)) || JSON.stringify(JSON.parse(json)) !== json) this.anomaly(`${key}: state differs from the fold of its log or does not survive a JSON round trip`);
    }
    for (const [key, row] of this.d1.views) {
      const [projection, generation, tenant, type, ...id] = key.split("|");
      const gens = this.d1.generations.get(generationsKey(projection ?? "", tenant ?? "")) ?? NO_GENERATIONS;
      if (Number(generation) !== gens.active && Number(generation) !== gens.building) continue;
      if (!this.entities.get(entityKey(tenant ?? "", type ?? "", id.join("|")))?.log.length) this.anomaly(`view ${projection}: orphan row ${key}`);
      if (row.tenant !== tenant) this.anomaly(`view ${projection}: row ${key} holds tenant ${row.tenant}'s data`);
    }
    for (const sub of this.subscribers) {
      if (!sub.ended && sub.seen !== sub.entity.log.length) this.anomaly(`a subscriber of ${sub.entity.address.entityId} has ${sub.seen} of ${sub.entity.log.length} events once quiet`);
    }
    for (const s of this.sagas.values()) {
      if (s.log.length === 0) continue;
      const status = s.state.status;
      if (status !== "completed" && status !== "compensated") this.anomaly(`saga ${s.id} is ${status}${s.state.error ? `: ${s.state.error}` : ""}`);
    }
    for (const text of this.app.checkQuiet?.(this) ?? []) this.anomaly(text);
  }

  /** Facts recorded in the world of one entity type (all tenants). */
  logsOf(entityType: string): SimEntity[] {
    return [...this.entities.values()].filter((e) => e.address.entityType === entityType && e.log.length > 0);
  }
}
