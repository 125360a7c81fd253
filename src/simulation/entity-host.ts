// The entity object in the simulator: its log, snapshots, outbox, relay cursors, parked facts,
// idempotency and client-session records (durable), its hibernatable WebSockets (the runtime's:
// they outlive an eviction), its command sequence with the memory image, its relay with the
// relay's memory, and its SSE responses (not). Commands run production's own sequence
// (src/core/entity/command-host.ts), the relay production's own host (src/core/outbox/relay-host.ts)
// and the live feed production's own host (src/core/live/live-feed-host.ts), each over models of
// that storage, the simulated queue, the object's alarm and its sockets, built anew after every
// eviction; the simulated clients of the feed check every event arrives once and in order.
import { entityCommand, EntityCommands } from "../core/entity/command-host.js";
import type { EntityType } from "../core/model/entity.js";
import type { RecordedEvent } from "../core/model/envelope.js";
import { RELAY_CURSORS_AT_START, type RelayCursors } from "../core/outbox/relay.js";
import { OutboxRelayHost, type ParkedFact, type RelayOutcome } from "../core/outbox/relay-host.js";
import { LiveFeedHost, type LiveStream } from "../core/live/live-feed-host.js";
import type { MemoryImage } from "../core/entity/command-step.js";
import type { CommandEnvelope, CommandOutcome, EntityAddress } from "../core/protocol/entity-protocol.js";
import { decodeHlc, HLC_ZERO } from "../core/protocol/hlc.js";
import { ADMISSION_LIMITS } from "./admission.js";
import { WORLD_LIMITS } from "./config.js";
import { MapIdempotencyRecords, MapSessionRecords } from "./entity-records.js";
import { ignoreEviction, SimObject } from "./object.js";
import type { World } from "./world.js";

const decoder = new TextDecoder();

/** How a simulated client subscribes: an SSE response, or a hibernatable WebSocket. */
export type LiveTransport = "sse" | "websocket";

/** How often a WebSocket client sends a keep-alive message; a message wakes an evicted object. */
const SOCKET_KEEPALIVE_MS = 10_000;

/**
 * A live subscriber. Over SSE the entity object holds its response in memory, so an eviction ends
 * it and the client reconnects after the last seq it received (Last-Event-ID). Over a WebSocket
 * the runtime holds the socket (`SimSocket`): it outlives evictions, and the client reconnects
 * only when the socket is closed (4000 past the backlog bound, 4401/4403 when its standing lapsed:
 * then the reconnect is refused). `seen` is the client's side: every event must arrive as `seen + 1`.
 */
export class SimSubscriber {
  readonly tenant: string;
  readonly keyId: string;
  readonly entity: SimEntity;
  readonly transport: LiveTransport;
  seen: number;
  connected = false;
  /** Ended for good: its key or tenant lost its standing (the client gets 401/403 on reconnect). */
  ended = false;
  readonly #world: World;

  constructor(world: World, tenant: string, keyId: string, entity: SimEntity, after: number, transport: LiveTransport) {
    this.#world = world;
    this.tenant = tenant;
    this.keyId = keyId;
    this.entity = entity;
    this.seen = after;
    this.transport = transport;
  }

  /** Connects through the tenant API (admission first), then opens the subscription on the entity. */
  async connect(): Promise<void> {
    if (!(await this.#world.admission.admit(this.tenant, this.keyId))) {
      // Refused: a failed read is retried, a lost standing ends the subscription.
      if (this.#world.admission.standing(this.tenant, this.keyId))
        this.#world.clock.at(1_000, () => void this.connect());
      else this.ended = true;
      return;
    }
    this.connected = true;
    this.entity.open(this);
  }

  /** Whether it needs nothing more: ended, or connected with every event of its entity. */
  settled(): boolean {
    return this.ended || (this.connected && this.seen === this.entity.log.length);
  }

  /** Bytes of an SSE response as the client reads them: comments are skipped, each message's data is an event. */
  receiveStream(text: string): void {
    for (const block of text.split("\n\n")) {
      const data = block.split("\n").find((line) => line.startsWith("data: "));
      if (data !== undefined) this.#receive(data.slice("data: ".length));
    }
  }

  /** One WebSocket text message: one event. */
  receiveMessage(text: string): void {
    this.#receive(text);
  }

  #receive(json: string): void {
    const event: unknown = JSON.parse(json);
    const seq: unknown = typeof event === "object" && event !== null ? Reflect.get(event, "seq") : undefined;
    const meta: unknown = typeof event === "object" && event !== null ? Reflect.get(event, "meta") : undefined;
    const tenant: unknown = typeof meta === "object" && meta !== null ? Reflect.get(meta, "tenant") : undefined;
    if (typeof seq !== "number" || typeof tenant !== "string") {
      this.#world.anomaly(`a subscriber of ${this.entity.address.entityId} was sent something that is no event`);
      return;
    }
    if (seq !== this.seen + 1)
      this.#world.anomaly(`subscriber of ${this.entity.address.entityId} after ${this.seen} was sent ${seq}`);
    if (tenant !== this.tenant)
      this.#world.anomaly(`a subscriber of tenant ${this.tenant} was sent tenant ${tenant}'s event`);
    this.seen = Math.max(this.seen, seq);
    this.#world.admission.checkLive(this.tenant, this.keyId);
  }

  /** The connection ended: the client reconnects a moment later after the last seq it has. */
  dropped(): void {
    this.connected = false;
    this.#world.clock.at(200 + this.#world.faults.int(800), () => void this.connect());
  }
}

/**
 * A hibernatable WebSocket as the runtime holds it for an entity object: open or not, and its
 * attachment serialized (`serializeAttachment`), so it outlives the object's evictions.
 */
export class SimSocket {
  readonly client: SimSubscriber;
  attachment: string | null = null;
  open = true;

  constructor(client: SimSubscriber) {
    this.client = client;
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
  /** The relay's cursors; the outbox is the log from `pendingFrom` on, as in production. */
  cursors: RelayCursors = RELAY_CURSORS_AT_START;
  /** Facts the queue cannot carry, by seq (production: the `parked_facts` table). */
  readonly parked = new Map<number, ParkedFact>();
  readonly idempotency = new MapIdempotencyRecords();
  readonly sessions = new MapSessionRecords();
  #commands: EntityCommands | null = null;
  #relayHost: OutboxRelayHost | null = null;
  /** The runtime's WebSockets accepted by this object (`ctx.getWebSockets()`): they outlive evictions. */
  readonly sockets = new Set<SimSocket>();
  /** The SSE responses of this incarnation, each with how it ends (they end with it). */
  readonly #streams = new Map<SimSubscriber, () => void>();
  #feed: LiveFeedHost<SimSocket> | null = null;

  /** The route's `GET …/events`: an SSE response or a WebSocket after the subscriber's last seq. */
  open(sub: SimSubscriber): void {
    const feed = this.#live();
    const principal = { tenant: sub.tenant, keyId: sub.keyId };
    if (sub.transport === "websocket") {
      const socket = new SimSocket(sub);
      this.sockets.add(socket);
      feed.openWebSocket(socket, sub.seen, principal);
      this.#keepAlive(socket);
      return;
    }
    let ended = false;
    let reading = false;
    let stream: LiveStream | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#streams.delete(sub);
      sub.dropped();
    };
    // The client reads as fast as it is sent: while catching up, each read asks for the next page.
    const read = async () => {
      if (reading) return;
      reading = true;
      try {
        while (!ended && stream && !stream.live) {
          await this.boundary(1);
          if (!ended) feed.pull(stream);
        }
      } finally {
        reading = false;
      }
    };
    this.#streams.set(sub, end);
    stream = feed.openStream(
      {
        enqueue: (bytes) => {
          if (ended) throw new TypeError("the stream is closed");
          sub.receiveStream(decoder.decode(bytes));
          // Sent back to catching up by a push it could not take: its next read pulls.
          if (stream && !stream.live) void read().catch(ignoreEviction);
        },
        desiredSize: () => 0,
        close: end,
      },
      sub.seen,
      principal,
    );
    void read().catch(ignoreEviction);
  }

  /** The client's keep-alive: a message to the socket, which wakes the object if it was evicted. */
  #keepAlive(socket: SimSocket): void {
    this.world.clock.at(SOCKET_KEEPALIVE_MS, () => {
      if (!socket.open) return;
      this.#live();
      this.#keepAlive(socket);
    });
  }

  /**
   * Production's live feed (src/core/live/live-feed-host.ts) of this incarnation, built when the
   * object wakes (any call to it, a socket's message) as the Durable Object builds it in its
   * constructor: it finds the sockets that outlived the last incarnation through `sockets`.
   */
  #live(): LiveFeedHost<SimSocket> {
    if (this.#feed) return this.#feed;
    const world = this.world;
    const incarnation = this.incarnation;
    this.#feed = new LiveFeedHost<SimSocket>(
      {
        page: (after, limit) => {
          if (world.faults.strike("rpcFailBefore")) throw new Error("log read failed");
          return this.log.slice(after, after + limit);
        },
        sockets: () => [...this.sockets],
        attachment: (socket) => (socket.attachment === null ? null : JSON.parse(socket.attachment)),
        setAttachment: (socket, attachment) => {
          socket.attachment = JSON.stringify(attachment);
        },
        send: (socket, text) => {
          if (!socket.open) throw new TypeError("the socket is closed");
          socket.client.receiveMessage(text);
        },
        isOpen: (socket) => socket.open,
        close: (socket) => {
          if (!socket.open) return;
          socket.open = false;
          this.sockets.delete(socket);
          // webSocketClose, when the client answers the close.
          this.#feed?.forgetSocket(socket);
          socket.client.dropped();
        },
        // The tenant gate's answer over RPC (the simulated gate reads the D1 model).
        standing: async (principal) => {
          await this.boundary(WORLD_LIMITS.rpcLatencyMs);
          if (world.faults.strike("rpcFailBefore")) throw new Error("tenant gate unreachable");
          return world.admission.standingOf(principal.tenant, principal.keyId);
        },
        now: () => world.clock.now,
        turn: () => this.boundary(1),
        every: (ms, tick) => {
          let stopped = false;
          const arm = () =>
            world.clock.at(ms, () => {
              if (stopped || this.incarnation !== incarnation) return;
              tick();
              arm();
            });
          arm();
          return () => {
            stopped = true;
          };
        },
      },
      { revalidateMs: ADMISSION_LIMITS.liveRevalidateMs },
      world.mutations,
    );
    return this.#feed;
  }

  constructor(world: World, address: EntityAddress, type: EntityType) {
    super(world);
    this.address = address;
    this.type = type;
  }

  protected onEvict(): void {
    // SSE responses end with the object; its WebSockets stay open, held by the runtime.
    for (const end of [...this.#streams.values()]) end();
    this.#feed = null;
    this.#commands = null;
    this.#relayHost = null;
  }

  protected async onAlarm(): Promise<void> {
    this.#live();
    this.#counted(await this.#relay().alarmFired());
  }

  /** The memory image: the command sequence's, rebuilt after a wake-up. */
  get image(): MemoryImage {
    return this.#host().image;
  }

  /** Production's command sequence (src/core/entity/command-host.ts) over this object's storage model. */
  command(envelope: CommandEnvelope): CommandOutcome {
    this.#live();
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
      published: (recorded) => this.#live().publish(recorded),
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
    this.#relayHost = new OutboxRelayHost(
      {
        storage: {
          readCursors: () => this.cursors,
          saveCursors: (cursors) => {
            this.cursors = cursors;
          },
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
        head: () => this.log.length,
        read: (after, upTo) => this.read(after, upTo),
        send: async (messages) => {
          await this.boundary(WORLD_LIMITS.rpcLatencyMs);
          if (world.faults.strike("sendFail")) throw new Error("queue sendBatch failed");
          world.queue.sendBatch(messages);
        },
        // A crash here (after the queue accepted, before the cursors move) re-sends: a duplicate.
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

  /** The API's Worker could not send the facts this entity handed off from `fromSeq`. */
  async handOffFailed(fromSeq: number): Promise<void> {
    this.#live();
    await this.#relay().handOffFailed(fromSeq);
  }

  /** The consumer applied facts up to `seq`. */
  acknowledge(seq: number): void {
    this.#live();
    this.#relay().acknowledge(Math.min(seq, this.image.version));
  }

  /** Facts after `after` up to `upTo` (the consumer's and rebuilder's read-back). */
  read(after: number, upTo: number): RecordedEvent[] {
    return this.log.slice(after, Math.min(upTo, this.log.length));
  }
}
