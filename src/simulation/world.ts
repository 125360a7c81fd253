// The simulated platform for one app: its objects (entities, sagas, rebuilders), the facts queue,
// the consumer, D1 and tenant admission on one simulated clock and fault stream, the RPCs between
// them (which fail before or after acting, or stall), and the invariants checked on every answer
// and once the system is quiet. The hosts (entity-host.ts, saga-host.ts, rebuilder.ts,
// consumer.ts) perform the effects of the same pure machines production runs, against models of
// storage that survive an eviction and memory that does not.
import { concernsSagas, sagaDeliveries } from "../core/saga/saga-delivery.js";
import { isDomainBug } from "../core/entity/domain-bugs.js";
import type { EntityType } from "../core/model/entity.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import { sagaInstanceId, type SagaDefinition } from "../core/model/saga.js";
import type { CommandEnvelope, CommandOutcome, EntityAddress, HandOff } from "../core/protocol/entity-protocol.js";
import type { SimApp } from "./app.js";
import { SimAdmission } from "./admission.js";
import { D1Model, entityKey, generationsKey, NO_GENERATIONS, rowKey, type SimStatement } from "./d1-model.js";
import type { Faults } from "./faults.js";
import type { Prng } from "./prng.js";
import type { Scheduler } from "./scheduler.js";
import { PRODUCTION_QUEUE_LIMITS, WORLD_LIMITS, type Mutations, type QueueLimits } from "./config.js";
import { SimSubscriber, SimEntity } from "./entity-host.js";
import { SimQueue } from "./queue.js";
import { ignoreEviction } from "./object.js";
import { SimConsumer, chainDigest } from "./consumer.js";
import { SimSaga } from "./saga-host.js";
import { SimRebuilder } from "./rebuilder.js";
import { SimBreakers } from "./breaker.js";
import { SessionLedger } from "./session-ledger.js";

/** Counters of what happened in a run. */
export interface WorldStats {
  commands: number;
  accepted: number;
  probes: number;
  /** Facts parked by their entity's relay (too large for the run's queue message limit). */
  parked: number;
  queueDeadLetters: number;
  /** Deliveries of a message the consumer put back on the queue (a failure, a lost race, a parked fact not yet readable). */
  consumerRetries: number;
  rebuilds: number;
}

/** The whole simulated platform for one app. */
export class World {
  readonly app: SimApp;
  readonly clock: Scheduler;
  readonly faults: Faults;
  readonly prng: Prng;
  readonly mutations: Mutations;
  /** The facts queue's message limit in this run, as the relay and the queue count it. */
  readonly queueLimits: QueueLimits;
  readonly d1 = new D1Model();
  readonly queue: SimQueue;
  readonly consumer: SimConsumer;
  readonly admission: SimAdmission;
  /** The circuit breaker objects in front of the outside services (breaker.ts). */
  readonly breakers: SimBreakers;
  readonly entities = new Map<string, SimEntity>();
  readonly sagas = new Map<string, SimSaga>();
  readonly rebuilders = new Map<string, SimRebuilder>();
  readonly subscribers: SimSubscriber[] = [];
  readonly anomalies: string[] = [];
  readonly stats: WorldStats = {
    commands: 0,
    accepted: 0,
    probes: 0,
    parked: 0,
    queueDeadLetters: 0,
    consumerRetries: 0,
    rebuilds: 0,
  };
  /** Every event id an accepted command was answered with, and where it must be in the log. */
  readonly accepted = new Map<string, { readonly key: string; readonly seq: number }>();
  /** What each client session's commands were answered (the at-most-once invariant, session-ledger.ts). */
  readonly sessions = new SessionLedger();
  readonly #types: ReadonlyMap<string, EntityType>;
  #ids = 0;

  constructor(
    app: SimApp,
    clock: Scheduler,
    faults: Faults,
    prng: Prng,
    mutations: Mutations = {},
    queueLimits: QueueLimits = PRODUCTION_QUEUE_LIMITS,
  ) {
    this.app = app;
    this.clock = clock;
    this.faults = faults;
    this.prng = prng;
    this.mutations = mutations;
    this.queueLimits = queueLimits;
    this.queue = new SimQueue(this);
    this.consumer = new SimConsumer(this);
    this.admission = new SimAdmission(this);
    this.breakers = new SimBreakers(this);
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
      e = new SimEntity(
        this,
        { tenant: address.tenant, entityType: address.entityType, entityId: address.entityId },
        this.entityType(address.entityType),
      );
      this.entities.set(key, e);
    }
    return e;
  }

  concernsSagas(facts: readonly RecordedEvent[]): boolean {
    return concernsSagas(this.app.sagas, facts);
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
    const head = target.log.length;
    const outcome = target.command(envelope);
    if ((!outcome.ok || outcome.replayed) && target.log.length !== head)
      this.anomaly(
        `${entityKey(target.address.tenant, target.address.entityType, target.address.entityId)}: a command answered without recording anything grew the log`,
      );
    this.#check(target, envelope, outcome);
    await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("rpcTimeoutAfter")) {
      // Half the answers lost after acting are lost to the object crashing after its commit: the
      // caller's retry meets a fresh incarnation, which must answer from storage alone.
      if (this.faults.int(2) === 0) target.evict();
      return "failed";
    }
    // Only an answer that arrives hands its facts over: a lost one leaves them to the probe.
    if (outcome.ok && outcome.handOff) void this.#sendHandOff(target, outcome.handOff).catch(ignoreEviction);
    return outcome;
  }

  /**
   * What the tenant API's Worker and the saga hosts do with facts an entity handed to a command
   * (src/core/outbox/fact-hand-off.ts): lost with their isolate, or sent, or, when the send fails or is
   * refused, reported to the entity over RPC (which may fail too: then the entity's probe repairs them).
   */
  async #sendHandOff(target: SimEntity, handOff: HandOff): Promise<void> {
    await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("handOffLost")) return;
    if (!this.faults.strike("sendFail")) {
      try {
        this.queue.sendBatch(handOff.messages.map((m) => m.body));
        return;
      } catch {
        // Refused for its size (a run's tight limit): reported like any failed send, and the
        // entity's own relay halves or parks.
      }
    }
    await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
    if (this.faults.strike("rpcFailBefore")) return;
    await target.handOffFailed(handOff.fromSeq);
  }

  /** Checked on every answer: the client-session rule, events exactly once where the answer says, and the app's state rules. */
  #check(target: SimEntity, envelope: CommandEnvelope, outcome: CommandOutcome): void {
    const key = entityKey(envelope.tenant, envelope.entityType, envelope.entityId);
    const broken = this.sessions.observe(key, target.incarnation, envelope, outcome);
    if (broken) this.anomaly(broken);
    if (!outcome.ok) {
      // The runtime refused the domain's own bug (event data JSON would change, a log it cannot
      // fold): nothing was recorded, but the domain is wrong, which is what a run looks for (T09).
      if (isDomainBug(outcome.problem)) this.anomaly(`${key}: ${outcome.problem.detail}`);
      return;
    }
    for (const e of outcome.result.events) {
      const at = target.log[e.seq - 1];
      if (!at || at.meta.eventId !== e.meta.eventId)
        this.anomaly(`${key}: answered event ${e.seq} (${e.type}) is not in the log at its seq`);
      if (e.meta.tenant !== envelope.tenant)
        this.anomaly(`${key}: event of tenant ${e.meta.tenant} answered to tenant ${envelope.tenant}`);
      if (!outcome.replayed) {
        if (this.accepted.has(e.meta.eventId)) this.anomaly(`${key}: event id ${e.meta.eventId} recorded twice`);
        this.accepted.set(e.meta.eventId, { key, seq: e.seq });
      }
    }
    if (outcome.replayed) return;
    this.stats.accepted++;
    const wrong = this.app.checkState?.(envelope.entityType, target.image.state);
    if (wrong) this.anomaly(`${key}: ${wrong} after ${envelope.command} ${JSON.stringify(envelope.data)}`);
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
    await Promise.all(
      sagaDeliveries(this.app.sagas, facts).map(async (d) => {
        const saga = this.saga(d.tenant, d.saga, d.instanceKey);
        await this.clock.sleep(WORLD_LIMITS.rpcLatencyMs);
        if (this.faults.strike("rpcFailBefore")) throw new Error("saga unavailable");
        if (this.faults.strike("evict")) saga.evict();
        await saga.deliver(d.facts);
        if (this.faults.strike("rpcTimeoutAfter")) throw new Error("saga answer lost");
      }),
    );
  }

  /** A client of `tenant` subscribes under `keyId` to an entity's events after `after`. */
  async subscribe(tenant: string, keyId: string, address: EntityAddress, after: number): Promise<void> {
    // Every other subscription is a hibernatable WebSocket, the rest SSE.
    const transport = this.subscribers.length % 2 === 0 ? "sse" : "websocket";
    const sub = new SimSubscriber(this, tenant, keyId, this.entity(address), after, transport);
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

  /**
   * Whether nothing is left to do: queue empty, every fact acknowledged, every saga ended (one
   * waiting for an operator is not: the healing operator retries it), every rebuild done.
   */
  quiet(): boolean {
    if (this.queue.messages.size > 0 || this.queue.inFlight > 0) return false;
    for (const e of this.entities.values())
      if (e.cursors.pendingFrom <= e.log.length || e.cursors.ackedUpTo < e.log.length) return false;
    for (const s of this.sagas.values()) {
      if (s.unfinished) return false;
      // The status mirror catches up through the saga's alarm after a failed write.
      if (s.log.length > 0 && this.d1.sagaInstances.get(s.id)?.status !== s.state.status) return false;
    }
    for (const r of this.rebuilders.values()) if (r.job) return false;
    for (const sub of this.subscribers) if (!sub.settled()) return false;
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
      if (e?.log[where.seq - 1]?.meta.eventId !== eventId)
        this.anomaly(`${where.key}: accepted event ${where.seq} missing from the log`);
    }
    // Every view equals the fold of the logs it follows, in the active generation of each tenant.
    for (const projection of this.app.projections) {
      for (const [key, e] of this.entities) {
        if (!projection.follows.includes(e.address.entityType) || e.log.length === 0) continue;
        const gens = this.d1.generations.get(generationsKey(projection.name, e.address.tenant)) ?? NO_GENERATIONS;
        const row = this.d1.views.get(rowKey(projection.name, gens.active, key));
        const digest = e.log.reduce(chainDigest, 0);
        if (!row) this.anomaly(`view ${projection.name}: no row for ${key} (head ${e.log.length})`);
        else if (
          row.applied !== e.log.length ||
          row.lastSeq !== e.log.length ||
          row.digest !== digest ||
          row.tenant !== e.address.tenant
        ) {
          this.anomaly(
            `view ${projection.name}: row for ${key} applied ${row.applied} facts up to ${row.lastSeq}, the log has ${e.log.length}${row.digest === digest ? "" : "; not the log's facts in its order"}`,
          );
        }
      }
    }
    // Every entity's memory image equals the fold of its log and survives a JSON round trip (T09).
    for (const [key, e] of this.entities) {
      if (e.log.length === 0) continue;
      const json = JSON.stringify(e.image.state);
      if (json !== JSON.stringify(e.type.fold(e.log)) || JSON.stringify(JSON.parse(json)) !== json)
        this.anomaly(`${key}: state differs from the fold of its log or does not survive a JSON round trip`);
    }
    for (const [key, row] of this.d1.views) {
      const [projection, generation, tenant, type, ...id] = key.split("|");
      const gens = this.d1.generations.get(generationsKey(projection ?? "", tenant ?? "")) ?? NO_GENERATIONS;
      if (Number(generation) !== gens.active && Number(generation) !== gens.building) continue;
      if (!this.entities.get(entityKey(tenant ?? "", type ?? "", id.join("|")))?.log.length)
        this.anomaly(`view ${projection}: orphan row ${key}`);
      if (row.tenant !== tenant) this.anomaly(`view ${projection}: row ${key} holds tenant ${row.tenant}'s data`);
    }
    for (const sub of this.subscribers) {
      if (!sub.ended && sub.seen !== sub.entity.log.length)
        this.anomaly(
          `a subscriber of ${sub.entity.address.entityId} has ${sub.seen} of ${sub.entity.log.length} events once quiet`,
        );
    }
    // A message that is no fact is dead-lettered once, as it came (no entity); a parked fact's
    // notice is recorded for operators as its entity parked it.
    const stray = this.d1.deadLetters.filter((d) => d.entityKey === null).length;
    if (stray !== this.queue.strays)
      this.anomaly(`${this.queue.strays} stray messages were put on the queue, ${stray} dead-lettered as no fact`);
    for (const [eventId, record] of this.d1.parkedFacts) {
      const entity = this.entities.get(record.entityKey);
      const fact = entity?.parked.has(record.seq) ? entity.log[record.seq - 1] : undefined;
      if (fact?.meta.eventId !== eventId || fact.meta.tenant !== record.tenant)
        this.anomaly(
          `parked fact ${eventId} recorded for ${record.entityKey} ${record.seq}, which its entity never parked`,
        );
    }
    for (const s of this.sagas.values()) {
      if (s.log.length === 0) continue;
      const status = s.state.status;
      if (status !== "completed" && status !== "compensated")
        this.anomaly(`saga ${s.id} is ${status}${s.state.error ? `: ${s.state.error}` : ""}`);
      const mirrored = this.d1.sagaInstances.get(s.id)?.status;
      if (mirrored !== status)
        this.anomaly(`saga ${s.id} is ${status}, its status row in D1 says ${mirrored ?? "nothing"}`);
    }
    for (const text of this.app.checkQuiet?.(this) ?? []) this.anomaly(text);
  }

  /** Facts recorded in the world of one entity type (all tenants). */
  logsOf(entityType: string): SimEntity[] {
    return [...this.entities.values()].filter((e) => e.address.entityType === entityType && e.log.length > 0);
  }
}
