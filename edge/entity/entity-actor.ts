// The entity host: one Durable Object per (tenant, entity type, entity id), the single writer of
// that entity. It keeps the entity's state in memory (the memory image), decides commands
// against it, and records the resulting events (the log is also the outbox: outbox-relay.ts) and
// idempotency record in one synchronous storage transaction, so no two commands can decide on the
// same version. The command sequence itself is src/core/entity/command-host.ts, shared with the
// simulator; this object gives it its ports (SQLite storage, the relay, the live feed).
import { DurableObject } from "cloudflare:workers";
import { SQLSchemaMigrations } from "durable-utils/sql-migrations";
import { UnfoldableEvent, type EntityRegistry, type EntityType } from "../../src/core/model/entity.js";
import { unfoldableProblem } from "../../src/core/entity/domain-bugs.js";
import { domainBug, entityCommand, EntityCommands } from "../../src/core/entity/command-host.js";
import { hostConfig } from "../../src/core/runtime/config.js";
import { decodeHlc, HLC_ZERO } from "../../src/core/protocol/hlc.js";
import type {
  CommandEnvelope,
  CommandOutcome,
  EntityAddress,
  EntityRead,
  EntityRpc,
  EventsRead,
  LogRead,
} from "../../src/core/protocol/entity-protocol.js";
import type { Refusable } from "../../src/core/protocol/refusable.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { cursorPastHead } from "../../src/core/protocol/log-cursor.js";
import { problemResponse, type Problem } from "../../src/core/http/problem.js";
import { PAGE_EVENTS } from "../../src/core/live/live-feed-host.js";
import { logEvent, setLogLevel } from "../../src/core/runtime/log.js";
import { EventLog } from "./event-log.js";
import { SqlSessionRecords } from "./client-session-store.js";
import { SqlIdempotencyRecords } from "./idempotency-store.js";
import { LiveFeed, type LivePrincipal, type LiveSource, type Standing } from "./live-feed.js";
import { outboxRelay, type RelayOutcome } from "./outbox-relay.js";
import type { OutboxRelayHost } from "../../src/core/outbox/relay-host.js";
import { entityStorageMigrations } from "./storage-schema.js";
import { tenantGateStub } from "../stubs.js";

/**
 * The one entity this object hosts, as held in memory after the first call: its address,
 * definition and log, its outbox relay, and its command sequence, which holds the memory image
 * (state, version, clock). The image is rebuilt (snapshot plus the log's tail) on the first use
 * of `commands`, not on wake-up: an object woken by the consumer's acknowledgement or by its
 * relay's alarm needs only the relay's cursors and the log's head.
 */
interface HostedEntity {
  readonly address: EntityAddress;
  readonly entity: EntityType;
  readonly log: EventLog;
  readonly relay: OutboxRelayHost;
  readonly commands: EntityCommands;
  /** The log's newest seq: the image's version once built, else one indexed read. */
  head(): number;
}

/**
 * The entity host class for an app's entity types, for the Worker to export under its binding's
 * class name (`EntityActor`). The runtime constructs a Durable Object with `(ctx, env)` only, so
 * the entity types are bound by subclassing: no module-level registry that must be set before
 * the first request, and a test or bench can build a host for any set of entity types.
 */
export function createEntityActor(entities: EntityRegistry): new (ctx: DurableObjectState, env: Env) => EntityActor {
  return class extends EntityActor {
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env, entities);
    }
  };
}

export class EntityActor extends DurableObject<Env> implements EntityRpc {
  readonly #entities: EntityRegistry;
  readonly #live: LiveFeed;
  /** Durable Streams readers of the log (edge/streams/entity-stream-routes.ts) waiting for the next event. */
  readonly #logWaiters = new Set<() => void>();
  #hosted: HostedEntity | undefined;

  constructor(ctx: DurableObjectState, env: Env, entities: EntityRegistry) {
    super(ctx, env);
    this.#entities = entities;
    setLogLevel(hostConfig(env, "entity").logLevel);
    this.#live = new LiveFeed(
      ctx,
      { revalidateMs: hostConfig(env, "entity").liveRevalidateMs, standing: (p) => this.#standing(p) },
      () => this.#hosted && liveSource(this.#hosted.log),
    );
    // Nothing else runs until the schema is current and the hosted entity is known (its memory
    // image is rebuilt on first use: see HostedEntity).
    void ctx.blockConcurrencyWhile(async () => {
      await new SQLSchemaMigrations({ doStorage: ctx.storage, migrations: entityStorageMigrations }).runAll();
      const row = ctx.storage.sql
        .exec<{ tenant: string; entity_type: string; entity_id: string }>(
          "SELECT tenant, entity_type, entity_id FROM entity_identity",
        )
        .toArray()[0];
      if (row) this.#load({ tenant: row.tenant, entityType: row.entity_type, entityId: row.entity_id });
    });
  }

  async command(envelope: CommandEnvelope): Promise<CommandOutcome> {
    const maxDelayMs = hostConfig(this.env, "entity").entityMaxQueueDelayMs;
    return entityCommand(envelope, Date.now(), maxDelayMs, (address) => this.#bind(address)?.commands);
  }

  /**
   * Current state, or the state as of version `at`; null if the entity has no events; refused
   * with 500 `state-unfoldable` (logged as an error) when its log cannot be folded into a state.
   */
  async read(address: EntityAddress, at: number | null): Promise<EntityRead | null> {
    const entity = this.#bind(address);
    if (!entity) return null;
    try {
      const { version, state } = entity.commands.image;
      if (version === 0) return null;
      const view =
        at === null || at >= version
          ? { type: address.entityType, id: address.entityId, version, state }
          : { type: address.entityType, id: address.entityId, version: at, state: entity.log.stateAt(at) };
      return { ok: true, view };
    } catch (error) {
      if (!(error instanceof UnfoldableEvent)) throw error;
      const problem = unfoldableProblem(entity.address, error, false);
      domainBug(entity.address, problem);
      return { ok: false, problem };
    }
  }

  /**
   * Events after `after`, at most `limit`; null if the entity has no events; refused with 400
   * `cursor-past-end` when `after` is past its latest event.
   */
  async events(address: EntityAddress, after: number, limit: number): Promise<EventsRead | null> {
    const entity = this.#bind(address);
    if (!entity) return null;
    // The log's head, not the memory image's version: reading the log needs no fold.
    const version = entity.head();
    if (version === 0) return null;
    const refused = cursorPastHead(address, after, version);
    if (refused) return { ok: false, problem: refused };
    const read = this.#readablePage(entity, after, limit);
    if (!read.ok) return read;
    const { events } = read;
    const last = events[events.length - 1];
    return { ok: true, page: { events, next: last && last.seq < version ? last.seq : null } };
  }

  async streamRead(
    address: EntityAddress,
    after: number,
    limit: number,
    waitMs: number,
  ): Promise<Refusable<LogRead> | null> {
    const entity = this.#bind(address);
    if (!entity) return null;
    if (waitMs > 0 && entity.head() <= after) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#logWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        this.#logWaiters.add(wake);
      });
    }
    const read = this.#readablePage(entity, after, limit);
    return read.ok ? { ok: true, events: read.events, version: entity.head() } : read;
  }

  /**
   * A page of the log for a reader (EventLog.page: it ends before an event that cannot be lifted to
   * its current version), or, when the page would start at such an event, the refusal 500
   * `state-unfoldable` naming it (logged as the domain's bug).
   */
  #readablePage(entity: HostedEntity, after: number, limit: number): Refusable<{ events: RecordedEvent[] }> {
    try {
      return { ok: true, events: entity.log.page(after, limit) };
    } catch (error) {
      return { ok: false, problem: this.#unfoldable(entity, error) };
    }
  }

  /** The refusal 500 `state-unfoldable` if one of the `limit` events after `after` cannot be lifted. */
  #unliftableIn(entity: HostedEntity, after: number, limit: number): Problem | undefined {
    try {
      Array.from(entity.log.read(after, Number.MAX_SAFE_INTEGER, limit));
      return undefined;
    } catch (error) {
      return this.#unfoldable(entity, error);
    }
  }

  /** `error`'s problem, logged as the domain's bug; rethrows anything but an `UnfoldableEvent`. */
  #unfoldable(entity: HostedEntity, error: unknown): Problem {
    if (!(error instanceof UnfoldableEvent)) throw error;
    const problem = unfoldableProblem(entity.address, error, false);
    domainBug(entity.address, problem);
    return problem;
  }

  /**
   * Live subscriptions: `GET …/events` as SSE or a WebSocket upgrade, after `?after=`. The caller
   * (the tenant API or the dashboard, both already authenticated) names the principal in `key`
   * (empty for the operator), so the feed can end the subscription when its standing lapses.
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const address: EntityAddress = {
      tenant: url.searchParams.get("tenant") ?? "",
      entityType: url.searchParams.get("type") ?? "",
      entityId: url.searchParams.get("id") ?? "",
    };
    const after = Number(url.searchParams.get("after") ?? "0");
    const principal: LivePrincipal = { tenant: address.tenant, keyId: url.searchParams.get("key") || null };
    const hosted = this.#bind(address);
    if (!hosted) return new Response(null, { status: 404 });
    // Decided with the subscription opened in this same step: no commit falls between the two.
    const refused = cursorPastHead(address, after, hosted.head());
    if (refused) return problemResponse(refused);
    // A subscription whose first page of backlog reaches an event that cannot be lifted is refused
    // with why: opened, its feed would end at that event with no reason given (a later page that
    // reaches one ends the feed, and the client's reconnection from its last id is refused here).
    const unliftable = this.#unliftableIn(hosted, after, PAGE_EVENTS);
    if (unliftable) return problemResponse(unliftable);
    return request.headers.get("upgrade")?.toLowerCase() === "websocket"
      ? this.#live.openWebSocket(after, principal)
      : this.#live.openEventStream(after, principal);
  }

  override async alarm(): Promise<void> {
    const hosted = this.#hosted;
    if (!hosted) return;
    this.#logRelay(hosted.address, await hosted.relay.alarmFired());
  }

  /** The consumer has applied this entity's facts up to `seq`. */
  async acknowledge(address: EntityAddress, seq: number): Promise<void> {
    const entity = this.#bind(address);
    if (entity) entity.relay.acknowledge(Math.min(seq, entity.head()));
  }

  /** The caller of a command could not send the facts handed off from `fromSeq`: the relay sends them itself. */
  async handOffFailed(address: EntityAddress, fromSeq: number): Promise<void> {
    const entity = this.#bind(address);
    if (entity) await entity.relay.handOffFailed(fromSeq);
  }

  override async webSocketMessage(): Promise<void> {
    // Subscribers only listen; anything they send is ignored.
  }

  /**
   * A subscriber's socket ended. A clean close is answered with 1000 (echoing any code risks a
   * reserved one); a drop without a close frame (1005, 1006, 1015) needs no answer at all.
   */
  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#live.forgetSocket(ws);
    if (code === 1005 || code === 1006 || code === 1015) return;
    try {
      ws.close(1000, "bye");
    } catch {
      // Already closed (the runtime may have answered the close frame itself).
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#live.forgetSocket(ws);
  }

  /** Whether a live subscriber's key and tenant may still read, as the tenant gate decides. */
  async #standing(principal: LivePrincipal & { readonly keyId: string }): Promise<Standing> {
    const gate = tenantGateStub(this.env, principal.tenant);
    return gate.standing(principal.tenant, principal.keyId);
  }

  /** Loads (once) the entity this object hosts, and checks every caller addresses the same one. */
  #bind(address: EntityAddress): HostedEntity | undefined {
    if (this.#hosted) {
      const a = this.#hosted.address;
      if (a.tenant !== address.tenant || a.entityType !== address.entityType || a.entityId !== address.entityId) {
        throw new Error(`entity object for ${a.tenant}:${a.entityType}:${a.entityId} addressed as another`);
      }
      return this.#hosted;
    }
    return this.#load(address);
  }

  #load(bound: EntityAddress): HostedEntity | undefined {
    const entity = this.#entities.get(bound.entityType);
    if (!entity) return undefined;
    // Callers pass whole envelopes; keep only the address.
    const address = { tenant: bound.tenant, entityType: bound.entityType, entityId: bound.entityId };
    const sql = this.ctx.storage.sql;
    const log = new EventLog(sql, entity);
    let commands: EntityCommands | undefined;
    // The image's version is set before the relay hears of a commit, so the relay's outbox (the
    // log up to this head) always holds what was just committed. Until a command builds the image
    // nothing appends, so the log's head is read once: a wake-up for the relay's alarm asks for it
    // on every step of its send loop, and a CPU profile of saga and rebuild load put that query at
    // a seventh of the isolate's time.
    let logHead: number | undefined;
    const head = () => {
      if (commands) return commands.image.version;
      logHead ??= log.head().seq;
      return logHead;
    };
    const relay = outboxRelay(this.ctx, this.env.FACTS, log, head, address, (outcome) =>
      this.#logRelay(address, outcome),
    );
    const hosted: HostedEntity = {
      address,
      entity,
      log,
      relay,
      get commands() {
        commands ??= buildCommands();
        return commands;
      },
      head,
    };
    const buildCommands = () => this.#commands(hosted);
    this.#hosted = hosted;
    return hosted;
  }

  /** The command sequence of `hosted` over this object's storage, with the memory image rebuilt from its log. */
  #commands({ address, entity, log, relay }: HostedEntity): EntityCommands {
    const sql = this.ctx.storage.sql;
    const { seq: version, hlc: lastHlc } = log.head();
    const image = {
      state: log.stateAt(version),
      version,
      hlc: lastHlc === null ? HLC_ZERO : (decodeHlc(lastHlc) ?? lastHlc),
    };
    return new EntityCommands(entity, address, image, {
      storage: {
        transaction: (writes) => this.ctx.storage.transactionSync(writes),
        storeIdentity: (a) => this.#storeIdentity(a),
        append: (events) => log.append(events),
        writeSnapshot: (seq, state) => log.writeSnapshot(seq, state),
        read: (after, upTo) => [...log.read(after, upTo)],
        idempotency: new SqlIdempotencyRecords(sql),
        sessions: new SqlSessionRecords(sql),
      },
      relay,
      published: (recorded) => {
        this.#live.publish(recorded);
        for (const wake of [...this.#logWaiters]) wake();
      },
      newEventId: () => crypto.randomUUID(),
      maxBacklog: hostConfig(this.env, "entity").entityMaxBacklog,
    });
  }

  #logRelay(address: EntityAddress, outcome: RelayOutcome): void {
    if (outcome.error) logEvent("warn", "relay send failed", { ...address, error: outcome.error });
    if (outcome.redelivered > 0)
      logEvent("warn", "relay re-sent unacknowledged facts", { ...address, count: outcome.redelivered });
  }

  #storeIdentity(address: EntityAddress): void {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO entity_identity (singleton, tenant, entity_type, entity_id) VALUES (1, ?, ?, ?)",
      address.tenant,
      address.entityType,
      address.entityId,
    );
  }
}

/**
 * The log as the live feed reads it: pages on demand, never the whole log at once. A page that
 * reaches an event that cannot be lifted throws (the feed ends), never a short page, which the
 * feed would take for the head and wait at in silence.
 */
function liveSource(log: EventLog): LiveSource {
  return { page: (after, limit) => [...log.read(after, Number.MAX_SAFE_INTEGER, limit)] };
}
