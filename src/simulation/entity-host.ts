// The entity object in the simulator: its log, snapshots, outbox, relay cursors, idempotency and
// client-session records (durable), its command sequence with the memory image, relay memory and
// live subscribers (not). Commands run production's own sequence (src/core/entity/command-host.ts)
// over models of that storage; it performs the effects of the relay (src/core/outbox/relay.ts).
import { entityCommand, EntityCommands } from "../core/entity/command-host.js";
import type { EntityType } from "../core/model/entity.js";
import type { RecordedEvent } from "../core/model/envelope.js";
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
import { queueMessageBytes, toCloudEvent } from "../core/protocol/cloud-event.js";
import type { MemoryImage } from "../core/entity/command-step.js";
import type { CommandEnvelope, CommandOutcome, EntityAddress } from "../core/protocol/entity-protocol.js";
import { decodeHlc, HLC_ZERO } from "../core/protocol/hlc.js";
import { ADMISSION_LIMITS } from "./admission.js";
import { WORLD_LIMITS } from "./config.js";
import { MapIdempotencyRecords, MapSessionRecords } from "./entity-records.js";
import { Evicted, ignoreEviction, SimObject } from "./object.js";
import type { World } from "./world.js";

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
      if (this.#world.admission.standing(this.tenant, this.keyId))
        this.#world.clock.at(1_000, () => void this.connect());
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
      if (e.seq !== this.seen + 1)
        this.#world.anomaly(`subscriber of ${this.entity.address.entityId} after ${this.seen} was sent ${e.seq}`);
      if (e.meta.tenant !== this.tenant)
        this.#world.anomaly(`a subscriber of tenant ${this.tenant} was sent tenant ${e.meta.tenant}'s event`);
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

/**
 * An entity object: its log, snapshots, outbox, relay cursors, idempotency and client-session
 * records (durable), and its command sequence with the memory image, and relay memory (not).
 */
export class SimEntity extends SimObject {
  readonly address: EntityAddress;
  readonly type: EntityType;
  readonly log: RecordedEvent[] = [];
  /** Snapshots by version, stored as JSON text as production stores them. */
  readonly snapshots = new Map<number, string>();
  readonly outbox = new Set<number>();
  cursors: RelayCursors = RELAY_CURSORS_AT_START;
  readonly idempotency = new MapIdempotencyRecords();
  readonly sessions = new MapSessionRecords();
  #commands: EntityCommands | null = null;
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
    this.#commands = null;
    this.#memory = RELAY_MEMORY_AT_WAKE;
    this.#armedAt = null;
    this.#flushing = null;
  }

  protected async onAlarm(): Promise<void> {
    this.#armedAt = null;
    await this.#startFlush();
  }

  /** The memory image: the command sequence's, rebuilt after a wake-up. */
  get image(): MemoryImage {
    return this.#host().image;
  }

  /** Production's command sequence (src/core/entity/command-host.ts) over this object's storage model. */
  command(envelope: CommandEnvelope): CommandOutcome {
    const address = this.address;
    return entityCommand(envelope, this.world.clock.now, WORLD_LIMITS.entityMaxQueueDelayMs, (bound) => {
      if (
        bound.tenant !== address.tenant ||
        bound.entityType !== address.entityType ||
        bound.entityId !== address.entityId
      )
        throw new Error(`entity object for ${address.entityId} addressed as ${bound.entityId}`);
      return this.#host();
    });
  }

  /**
   * The command sequence of this incarnation, built on first use after a wake-up over the
   * surviving storage, from the newest snapshot and the log's tail (as production does).
   */
  #host(): EntityCommands {
    if (this.#commands) return this.#commands;
    const version = this.log.length;
    const last = this.log[version - 1];
    const snapshotAt = Math.max(0, ...[...this.snapshots.keys()].filter((seq) => seq <= version));
    const snapshot = this.snapshots.get(snapshotAt);
    const image = {
      state: this.type.fold(this.log.slice(snapshotAt), snapshot === undefined ? undefined : JSON.parse(snapshot)),
      version,
      hlc: last ? (decodeHlc(last.meta.hlc) ?? last.meta.hlc) : HLC_ZERO,
    };
    const world = this.world;
    this.#commands = new EntityCommands(this.type, this.address, image, {
      storage: {
        // Synchronous like transactionSync: no effect boundary inside, so no eviction tears it.
        transaction: (writes) => writes(),
        // The simulated object is built knowing its address; nothing reads an identity back.
        storeIdentity: () => {},
        append: (events) => this.log.push(...events),
        writeSnapshot: (seq, state) => this.snapshots.set(seq, JSON.stringify(state)),
        read: (after, upTo) => this.read(after, upTo),
        idempotency: this.idempotency,
        sessions: this.sessions,
      },
      relay: {
        backlog: (version) => Math.max(0, version - this.cursors.ackedUpTo),
        retryAfterSeconds: () => retryAfterSeconds(this.#memory),
        stage: (recorded) => {
          for (const e of recorded) this.outbox.add(e.seq);
        },
        committed: (facts) => {
          if (facts.length === 0) return;
          this.#arm(world.clock.now + RELAY_POLICY.safetyNetMs);
          if (sendOnCommit(this.#memory, this.#flushing !== null)) void this.#startFlush().catch(ignoreEviction);
        },
      },
      published: (recorded) => this.#publish(recorded),
      newEventId: () => world.newId("ev"),
      maxBacklog: WORLD_LIMITS.entityMaxBacklog,
    });
    return this.#commands;
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
      this.#arm(
        alarmAfterRun({ failed: false, pending: this.outbox.size, sendFailures: 0 }, this.cursors, world.clock.now) ??
          Number.POSITIVE_INFINITY,
      );
    } catch (error) {
      if (error instanceof Evicted) throw error;
      const sendFailures = this.#memory.sendFailures + 1;
      this.#memory = { ...this.#memory, sendFailures };
      this.#arm(
        alarmAfterRun({ failed: true, pending: this.outbox.size, sendFailures }, this.cursors, world.clock.now) ??
          world.clock.now,
      );
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
