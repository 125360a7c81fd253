// The entity object in the simulator: its log, snapshots, outbox, relay cursors, parked facts,
// idempotency and client-session records (durable), its command sequence with the memory image,
// its relay with the relay's memory, and live subscribers (not). Commands run production's own
// sequence (src/core/entity/command-host.ts) and the relay production's own host
// (src/core/outbox/relay-host.ts), each over models of that storage, the simulated queue and the
// object's alarm, built anew after every eviction.
import { entityCommand, EntityCommands } from "../core/entity/command-host.js";
import type { EntityType } from "../core/model/entity.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import { RELAY_CURSORS_AT_START, type RelayCursors } from "../core/outbox/relay.js";
import { OutboxRelayHost, type ParkedFact, type RelayOutcome } from "../core/outbox/relay-host.js";
import { afterBacklogPage, livePush } from "../core/live/subscription.js";
import type { MemoryImage } from "../core/entity/command-step.js";
import type { CommandEnvelope, CommandOutcome, EntityAddress } from "../core/protocol/entity-protocol.js";
import { decodeHlc, HLC_ZERO } from "../core/protocol/hlc.js";
import { ADMISSION_LIMITS } from "./admission.js";
import { WORLD_LIMITS } from "./config.js";
import { MapIdempotencyRecords, MapSessionRecords } from "./entity-records.js";
import { ignoreEviction, SimObject } from "./object.js";
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
 * An entity object: its log, snapshots, outbox, relay cursors, parked facts, idempotency and
 * client-session records (durable), and its command sequence with the memory image, and its
 * relay with the relay's memory (not).
 */
export class SimEntity extends SimObject {
  readonly address: EntityAddress;
  readonly type: EntityType;
  readonly log: RecordedEvent[] = [];
  /** Snapshots by version, stored as JSON text as production stores them. */
  readonly snapshots = new Map<number, string>();
  readonly outbox = new Set<number>();
  cursors: RelayCursors = RELAY_CURSORS_AT_START;
  /** Facts the queue cannot carry, by seq (production: the `parked_facts` table). */
  readonly parked = new Map<number, ParkedFact>();
  readonly idempotency = new MapIdempotencyRecords();
  readonly sessions = new MapSessionRecords();
  #commands: EntityCommands | null = null;
  #relayHost: OutboxRelayHost | null = null;
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
    this.#relayHost = null;
  }

  protected async onAlarm(): Promise<void> {
    this.#counted(await this.#relay().alarmFired());
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
      relay: this.#relay(),
      published: (recorded) => this.#publish(recorded),
      newEventId: () => world.newId("ev"),
      maxBacklog: WORLD_LIMITS.entityMaxBacklog,
    });
    return this.#commands;
  }

  /**
   * Production's relay (src/core/outbox/relay-host.ts) of this incarnation, built on first use
   * after a wake-up over the surviving outbox, cursors and parked facts, with the run's queue
   * limits. Its awaits are this object's effect boundaries, where an eviction stops it for good.
   */
  #relay(): OutboxRelayHost {
    if (this.#relayHost) return this.#relayHost;
    const world = this.world;
    const outbox = this.outbox;
    this.#relayHost = new OutboxRelayHost(
      {
        storage: {
          readCursors: () => this.cursors,
          saveCursors: (cursors) => {
            this.cursors = cursors;
          },
          addToOutbox: (seqs) => {
            for (const seq of seqs) outbox.add(seq);
          },
          removeFromOutbox: (upTo) => {
            for (const seq of outbox) if (seq <= upTo) outbox.delete(seq);
          },
          outboxRange: () => {
            let first = Number.POSITIVE_INFINITY;
            let last = 0;
            for (const seq of outbox) {
              if (seq < first) first = seq;
              if (seq > last) last = seq;
            }
            return last === 0 ? null : { first, last };
          },
          outboxSize: () => outbox.size,
          parked: (first, last) => {
            const found = new Map<number, ParkedFact>();
            if (this.parked.size === 0) return found;
            for (const [seq, fact] of this.parked) if (seq >= first && seq <= last) found.set(seq, fact);
            return found;
          },
          park: (fact) => {
            if (this.parked.has(fact.seq)) return;
            this.parked.set(fact.seq, fact);
            world.stats.parked++;
          },
        },
        read: (after, upTo) => this.read(after, upTo),
        send: async (messages) => {
          await this.boundary(WORLD_LIMITS.rpcLatencyMs);
          if (world.faults.strike("sendFail")) throw new Error("queue sendBatch failed");
          world.queue.sendBatch(messages);
        },
        // A crash here (after the queue accepted, before the outbox is marked) re-sends: a duplicate.
        afterSend: () => this.boundary(0),
        sleep: (ms) => this.boundary(ms),
        now: () => world.clock.now,
        setAlarm: (at) => this.setAlarm(at),
        deleteAlarm: () => this.deleteAlarm(),
        background: (work) => void work.then((outcome) => this.#counted(outcome)).catch(ignoreEviction),
        // Counted where it is stored (above): a fact is parked once however often it is reported.
        parked: () => {},
      },
      world.queueLimits.relay,
    );
    return this.#relayHost;
  }

  #counted(outcome: RelayOutcome): void {
    this.world.stats.probes += outcome.redelivered;
  }

  /** The consumer applied facts up to `seq`. */
  acknowledge(seq: number): void {
    this.#relay().acknowledge(Math.min(seq, this.image.version));
  }

  /** Facts after `after` up to `upTo` (the consumer's and rebuilder's read-back). */
  read(after: number, upTo: number): RecordedEvent[] {
    return this.log.slice(after, Math.min(upTo, this.log.length));
  }
}
