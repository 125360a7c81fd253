// The offline-first client: a durable outbox of the user's commands, synced to the tenant API
// exactly once (client sessions: src/core/protocol/client-session.ts), mirrors of the entities the
// application looks at (confirmed by the server, followed live, optimistic with the commands still
// waiting) and the state of the connection. Runs in browsers and Node (fetch, streams, crypto).
import type {
  AnyEntity,
  CommandBody,
  PublicCommandNameOf,
  EntityType,
  Rejection,
  TypeNameOf,
} from "../src/core/model/entity.js";
import type { FieldError } from "../src/core/http/problem.js";
import { ENTITY_ID } from "../src/core/protocol/names.js";
import { applyConfirmed, optimisticState, type SequencedEvent } from "./entity-mirror.js";
import { readEventStream, silenceWatch } from "./event-stream.js";
import { parseControlOffset, parseViewChanges, viewNameOf } from "./view-feed.js";
import {
  MemoryOutboxStore,
  OutboxOwnerError,
  outboxOwner,
  type CommandProblem,
  type ConfirmedState,
  type OutboxStore,
  type QueuedCommand,
  type RejectedCommand,
} from "./outbox.js";

/**
 * A view read answered with a status other than 2xx (`client.view`). `status` is the HTTP
 * status; `problem` the server's RFC 9457 document (type, title, status, detail, code) when the
 * answer was `application/problem+json`, else null (a proxy's page, an empty answer). The message
 * names the path, the status and, with a problem, its title, detail and type.
 */
export class ViewError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
    readonly problem: CommandProblem | null,
  ) {
    super(
      `view ${path} answered ${status}` +
        (problem === null ? "" : `: ${problem.title}${problem.detail ? ` (${problem.detail})` : ""} [${problem.type}]`),
    );
    this.name = "ViewError";
  }
}

/** The state type of an entity definition. */
export type StateOf<X extends AnyEntity> = X["definition"] extends { readonly initialState: infer S } ? S : unknown;

/** How the client reaches the server: `connecting` until the first answer, `offline` while requests fail. */
export type ConnectionState = "connecting" | "online" | "offline" | "unauthorized";

/** What an application shows about syncing. */
export interface SyncStatus {
  readonly connection: ConnectionState;
  /** Commands made and not yet answered by the server. */
  readonly queueLength: number;
  /** When the server last answered a command or sent an event (epoch ms), or null. */
  readonly lastSyncAt: number | null;
}

/** The result of making a command: queued durably (with its number), or invalid and not queued. */
export type Enqueued =
  | { readonly queued: true; readonly seq: number }
  | { readonly queued: false; readonly errors: readonly FieldError[] };

/** A waiting command as an entity handle lists it, with the local prediction of its answer. */
export interface PendingCommand extends QueuedCommand {
  /** The rejection the local `decide` predicts (the server's answer settles it), or null. */
  readonly predictedRejection: Rejection | null;
}

/** One entity, as the application sees it. */
export interface EntityHandle<X extends AnyEntity> {
  readonly type: TypeNameOf<X>;
  readonly id: string;
  /** The optimistic state: the confirmed state with the waiting commands applied. */
  readonly state: StateOf<X>;
  /** What the server last confirmed (version 0: nothing known yet, or no events). */
  readonly confirmed: { readonly version: number; readonly state: StateOf<X> };
  /** This entity's waiting commands, in the order they were made. */
  readonly pending: readonly PendingCommand[];
  /** Queues a command (durably) and starts sending it; invalid bodies are answered at once. */
  command<K extends PublicCommandNameOf<X>>(name: K, body: CommandBody<X, K>): Promise<Enqueued>;
  /**
   * Follows the entity live (Server-Sent Events, resumed after the last event applied); returns a
   * stop function. Each followed entity holds a connection open: a browser keeps at most six to
   * an HTTP/1.1 origin (HTTP/2 multiplexes), so follow a handful; for many, `watchView` a view of
   * them (one change feed) and `refresh` the ones its rows show ahead.
   */
  follow(): () => void;
  /**
   * Reads the entity's current state from the server (once the outbox has loaded); an answer below
   * the confirmed version, or 404 (no events) for an entity this client confirmed events of, is
   * checked against the log, so a server that was reset or wiped is followed anew.
   */
  refresh(): Promise<void>;
}

export interface ClientOptions<E extends readonly AnyEntity[]> {
  /** The platform's origin, e.g. "https://factline.example" (in a browser: `location.origin`). */
  readonly baseUrl: string;
  /** A tenant API key. */
  readonly apiKey: string;
  /** The app's entity definitions (the same the server runs): types and optimistic decisions come from them. */
  readonly entities: E;
  /** Where queued commands are kept (default: memory). */
  readonly outbox?: OutboxStore;
  /** Entities synced at once, each in order (default 16). */
  readonly concurrency?: number;
  /**
   * How long one attempt to send a command may take, its answer read included, before it counts
   * as a network error (ms; default COMMAND_TIMEOUT_MS, 30,000): the command stays queued and is
   * sent again under the same client-session number, so the server still decides it once.
   */
  readonly commandTimeoutMs?: number;
  /**
   * How long a live stream (`follow`, `watchView`'s change feed) may stay silent — no event, no
   * heartbeat — before it is taken for a dead connection, aborted and reconnected, resuming where
   * it left off (ms; default LIVE_SILENCE_MS, 62,500).
   */
  readonly liveSilenceMs?: number;
  /** Backoff between failed attempts (ms; default 500 to 30,000, full jitter). */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /**
   * Takes over an outbox another key filled (its commands are sent, and its cached states shown,
   * with this one): for a key that replaced, in the same tenant, the one it was filled with. Off by
   * default: an outbox of another key or server is refused (OutboxOwnerError).
   */
  readonly adoptOutbox?: boolean;
}

type Answer =
  | { readonly kind: "done"; readonly rejection?: RejectedCommand }
  | { readonly kind: "retry"; readonly afterMs: number | null; readonly unauthorized?: boolean };

interface Mirror {
  readonly entity: EntityType;
  readonly type: string;
  readonly id: string;
  confirmed: ConfirmedState;
  catchingUp: Promise<void> | null;
}

const keyOf = (type: string, id: string) => `${type}/${id}`;

/**
 * The default bound on one attempt to send a command (ms). An answer that never comes (a
 * connection gone half-open, a proxy that holds the request) would otherwise hold that entity's
 * commands for good. 30 s is far above a command's answer under load: an entity sheds a command
 * that waited ENTITY_MAX_QUEUE_DELAY_MS (500 ms by default) with 429 rather than decide it late.
 */
export const COMMAND_TIMEOUT_MS = 30_000;

/**
 * The default bound on a live stream's silence (ms): 2.5 times the longest the server stays
 * silent on an open stream. An entity's live feed writes a `: heartbeat` comment at least every
 * 25 s (HEARTBEAT_MS, src/core/live/live-feed-host.ts); a view's change feed writes a control event
 * every STREAM_LONG_POLL_TIMEOUT_MS (20 s by default) and ends after 60 s. So one late heartbeat
 * is tolerated, and a connection gone half-open is noticed within about a minute.
 */
export const LIVE_SILENCE_MS = 62_500;

/** The problem type of a log position past an entity's latest event (README "Problem types"). */
const CURSOR_PAST_END = "https://factline.dev/problems/cursor-past-end";
/** The problem type of an entity the server holds no events of (its read and its log pages). */
const NOT_FOUND = "https://factline.dev/problems/not-found";

/** The browser's `online` event, where there is one (Node and workerd have none). */
interface OnlineEvents {
  addEventListener?(type: "online" | "offline", listener: () => void): void;
  removeEventListener?(type: "online" | "offline", listener: () => void): void;
}
const onlineEvents: OnlineEvents = globalThis as OnlineEvents;

/** Creates a client for `options.entities`; call `close()` when done. */
export function createClient<const E extends readonly AnyEntity[]>(options: ClientOptions<E>): FactlineClient<E> {
  return new FactlineClient(options);
}

export class FactlineClient<E extends readonly AnyEntity[]> {
  readonly #base: string;
  readonly #auth: string;
  readonly #fetch: typeof fetch;
  readonly #store: OutboxStore;
  readonly #entities = new Map<string, EntityType>();
  readonly #concurrency: number;
  readonly #retry: { readonly baseMs: number; readonly maxMs: number };
  readonly #ready: Promise<void>;
  /**
   * Settles when the load has, whether it succeeded or not. Entity reads wait for it: the load
   * seeds mirrors with their stored confirmed state, so a read begun before it would start from
   * a position the load then moves, and its answer could be replaced by the older stored state.
   * A failed load seeds nothing, so reads go ahead.
   */
  readonly #loaded: Promise<void>;
  /** Rejections dismissed before the load answered (it may still hold them); null once loaded. */
  #dismissedBeforeLoad: Set<number> | null = new Set();
  readonly #listeners = new Set<() => void>();
  readonly #mirrors = new Map<string, Mirror>();
  readonly #handles = new Map<string, EntityHandle<E[number]>>();
  readonly #aborts = new Set<AbortController>();
  #session: string | null = null;
  #nextSeq = 1;
  #queue: QueuedCommand[] = [];
  #storedConfirmed: Readonly<Record<string, ConfirmedState>> = {};
  #rejections: RejectedCommand[] = [];
  #connection: ConnectionState = "connecting";
  #lastSyncAt: number | null = null;
  #consistency: string | null = null;
  /** Counts changes of confirmed state (watchView re-reads after them). */
  #confirmations = 0;
  /** The entities (keys) with a command in flight: one each, at most `#concurrency`. */
  readonly #sending = new Set<string>();
  readonly #commandTimeoutMs: number;
  readonly #liveSilenceMs: number;
  #failures = 0;
  /** Set while sending pauses after a failure (the backoff); sync() ends the pause early. */
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Sleeping live-follow loops, woken early when the browser says it is online again. */
  readonly #sleepers = new Set<() => void>();
  readonly #onOnline = () => {
    for (const wake of this.#sleepers) wake();
    this.sync();
  };
  /** Open live streams, cut when the browser says it is offline (a stream can outlive the network silently). */
  readonly #streams = new Set<AbortController>();
  readonly #onOffline = () => {
    for (const stream of this.#streams) stream.abort();
    this.#setConnection("offline");
  };

  constructor(options: ClientOptions<E>) {
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#auth = `Bearer ${options.apiKey}`;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#store = options.outbox ?? new MemoryOutboxStore();
    for (const entity of options.entities) this.#entities.set(entity.type, entity);
    this.#concurrency = options.concurrency ?? 16;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    this.#liveSilenceMs = options.liveSilenceMs ?? LIVE_SILENCE_MS;
    this.#retry = options.retry ?? { baseMs: 500, maxMs: 30_000 };
    this.#ready = this.#store.load().then(async (contents) => {
      // Checked before anything from the store is used: another key's commands are never sent
      // with this one, nor its cached states shown (its tenant may not be this key's).
      const client = await outboxOwner(this.#base, options.apiKey);
      if (contents.owner !== client) {
        if (contents.owner !== null && options.adoptOutbox !== true) throw new OutboxOwnerError(contents.owner, client);
        await this.#store.claim(client);
      }
      this.#session = contents.session;
      this.#nextSeq = contents.nextSeq;
      this.#queue = [...contents.commands];
      this.#storedConfirmed = contents.confirmed;
      const dismissed = this.#dismissedBeforeLoad;
      this.#rejections = contents.rejections.filter((r) => !dismissed?.has(r.seq));
      this.#dismissedBeforeLoad = null;
      for (const mirror of this.#mirrors.values()) this.#seedFromStore(mirror);
      this.#emit();
      this.sync();
    });
    this.#loaded = this.#ready.then(
      () => undefined,
      () => undefined,
    );
    onlineEvents.addEventListener?.("online", this.#onOnline);
    onlineEvents.addEventListener?.("offline", this.#onOffline);
  }

  /** Resolves once the outbox is loaded (commands made before are queued again). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Connection, queue length and last sync. */
  get status(): SyncStatus {
    return { connection: this.#connection, queueLength: this.#queue.length, lastSyncAt: this.#lastSyncAt };
  }

  /** Commands the server refused and the application has not dismissed (kept in the outbox across reloads), oldest first. */
  get rejections(): readonly RejectedCommand[] {
    return this.#rejections;
  }

  /** Forgets a shown rejection (here and in the outbox). */
  dismiss(seq: number): void {
    this.#rejections = this.#rejections.filter((r) => r.seq !== seq);
    this.#dismissedBeforeLoad?.add(seq);
    void this.#store.dismiss(seq).catch(() => undefined);
    this.#emit();
  }

  /** Calls `listener` after any change (state, queue, connection, rejections); returns an unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The entity `type`/`id`: a wrong type, command or field is a compile error. Throws a RangeError
   * at once for an id outside the platform's grammar (`ENTITY_ID`, src/core/protocol/names.ts:
   * 1-128 of A-Z a-z 0-9 . _ ~ -, not `.` or `..`), which no URL can address and the server would
   * refuse, and an Error for a type not given to this client.
   */
  entity<T extends TypeNameOf<E[number]>>(type: T, id: string): EntityHandle<Extract<E[number], { readonly type: T }>> {
    const key = keyOf(type, id);
    const known = this.#handles.get(key);
    if (known) return known as EntityHandle<Extract<E[number], { readonly type: T }>>;
    // Refused here rather than queued: a command for it would be shown as accepted, then refused.
    if (typeof id !== "string" || !ENTITY_ID.pattern.test(id))
      throw new RangeError(`entity id ${JSON.stringify(id)}: ${ENTITY_ID.rule}`);
    const mirror = this.#mirror(type, id);
    const client = this;
    const handle: EntityHandle<E[number]> = {
      type,
      id,
      get state() {
        return optimisticState(mirror.entity, mirror.confirmed, client.#pendingOf(key)).state as StateOf<E[number]>;
      },
      get confirmed() {
        return mirror.confirmed as { version: number; state: StateOf<E[number]> };
      },
      get pending() {
        const pending = client.#pendingOf(key);
        const { predictions } = optimisticState(mirror.entity, mirror.confirmed, pending);
        return pending.map((c, i) => ({ ...c, predictedRejection: predictions[i]?.rejection ?? null }));
      },
      command: (name, body) => client.#enqueue(mirror, name, body),
      follow: () => client.#follow(mirror),
      refresh: () => client.#refresh(mirror),
    };
    this.#handles.set(key, handle);
    return handle as EntityHandle<Extract<E[number], { readonly type: T }>>;
  }

  /**
   * Reads a view (`/v1/views/{path}`), reflecting every command this client has had answered
   * (the read-your-writes token); `stale` when the server could not wait for it. Throws a
   * `ViewError` (carrying the problem document, if any) on a non-2xx answer, and the fetch's
   * error when the request fails.
   */
  async view<R = unknown>(path: string): Promise<{ readonly body: R; readonly stale: boolean }> {
    const headers: Record<string, string> = { authorization: this.#auth };
    if (this.#consistency !== null) headers["factline-consistency"] = this.#consistency;
    let res: Response;
    try {
      res = await this.#fetch(`${this.#base}/v1/views/${path}`, { headers });
    } catch (error) {
      this.#setConnection("offline");
      throw error;
    }
    if (!res.ok) {
      let problem: CommandProblem | null = null;
      if (res.headers.get("content-type")?.includes("application/problem+json"))
        problem = (await res.json().catch(() => null)) as CommandProblem | null;
      else await res.body?.cancel();
      // Anything but an object with a string type is not the server's problem document.
      throw new ViewError(path, res.status, typeof problem?.type === "string" ? problem : null);
    }
    this.#answered();
    return { body: (await res.json()) as R, stale: res.headers.get("factline-stale") === "true" };
  }

  /**
   * Follows a view (`/v1/views/{path}`) and calls `listener` with each read of it. Reads it once
   * the view's change feed (`/v1/views/{view}/changes/stream`, SSE) has told its offset, then again
   * whenever the feed reports changes (a burst read once: one read in flight, at most one more
   * queued), each read with the read-your-writes token, and again while the answer is stale. The
   * feed is resumed after a disconnect from the last offset seen, so no change is missed. A server
   * without change feeds (404) is polled instead: after every change this client confirms (at most
   * every 250 ms) and at least every `everyMs` (default 5 s). A read answered 404 `not-found` (a
   * row not written yet, a view the server does not have) calls `listener` with null, so the
   * application learns the path is empty; the row's first change reads it again. Other refusals
   * and network errors call nothing: the next change (or poll) reads again. Returns a stop function.
   */
  watchView<R = unknown>(
    path: string,
    listener: (body: R | null, stale: boolean) => void,
    options: { readonly everyMs?: number } = {},
  ): () => void {
    let stopped = false;
    let reading = false;
    let again = false;
    let seen = -1;
    const read = async () => {
      if (stopped) return;
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          seen = this.#confirmations;
          const answer = await this.view<R>(path).catch((error: unknown) => {
            if (error instanceof ViewError && error.problem?.type === NOT_FOUND) return null;
            throw error;
          });
          if (stopped) return;
          listener(answer?.body ?? null, answer?.stale ?? false);
          // Stale: the read model has not caught up with our writes yet (the server waited 2 s); read again.
          if (answer?.stale) again = true;
        } while (again && !stopped);
      } catch {
        // Offline or refused: the feed's next change (or the next poll) reads again.
      } finally {
        reading = false;
      }
    };
    // The fallback for servers without change feeds: what watchView did before them.
    let stopPolling: (() => void) | undefined;
    const poll = () => {
      let pending: ReturnType<typeof setTimeout> | undefined;
      const unsubscribe = this.subscribe(() => {
        if (this.#confirmations === seen || pending !== undefined) return;
        pending = setTimeout(() => {
          pending = undefined;
          void read();
        }, 250);
      });
      const timer = setInterval(() => void read(), options.everyMs ?? 5000);
      void read();
      return () => {
        unsubscribe();
        clearInterval(timer);
        if (pending !== undefined) clearTimeout(pending);
      };
    };
    const abort = new AbortController();
    this.#aborts.add(abort);
    void this.#followViewFeed(viewNameOf(path), abort.signal, {
      changed: () => void read(),
      missing: () => {
        if (!stopped) stopPolling = poll();
      },
    });
    return () => {
      stopped = true;
      abort.abort();
      this.#aborts.delete(abort);
      stopPolling?.();
    };
  }

  /** Sends what is queued now (also done on its own after each command, on `online`, and with backoff after failures). */
  sync(): void {
    if (this.#closed) return;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    // A failed load leaves no session to send under: nothing is sent.
    void this.#ready.then(
      () => this.#pump(),
      () => undefined,
    );
  }

  /** Resolves once the queue is empty (every command answered). */
  async drained(): Promise<void> {
    await this.#ready;
    while (this.#queue.length > 0 && !this.#closed) {
      await new Promise<void>((resolve) => {
        const stop = this.subscribe(() => {
          stop();
          resolve();
        });
      });
    }
  }

  /**
   * Stops syncing and following; queued commands stay in the outbox for the next client. Resolves
   * once the outbox is released (a file outbox's lock, after its last write): await it before
   * opening the same file again.
   */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    for (const abort of this.#aborts) abort.abort();
    for (const wake of this.#sleepers) wake();
    onlineEvents.removeEventListener?.("online", this.#onOnline);
    onlineEvents.removeEventListener?.("offline", this.#onOffline);
    return this.#store.close?.() ?? Promise.resolve();
  }

  #emit(): void {
    for (const listener of this.#listeners) listener();
  }

  #pendingOf(key: string): QueuedCommand[] {
    return this.#queue.filter((c) => keyOf(c.entityType, c.entityId) === key);
  }

  #mirror(type: string, id: string): Mirror {
    const key = keyOf(type, id);
    const known = this.#mirrors.get(key);
    if (known) return known;
    const entity = this.#entities.get(type);
    if (!entity) throw new Error(`no entity type ${type} was given to this client`);
    const mirror: Mirror = {
      entity,
      type,
      id,
      confirmed: { version: 0, state: entity.initialState() },
      catchingUp: null,
    };
    this.#seedFromStore(mirror);
    this.#mirrors.set(key, mirror);
    return mirror;
  }

  #seedFromStore(mirror: Mirror): void {
    const key = keyOf(mirror.type, mirror.id);
    const stored = Object.hasOwn(this.#storedConfirmed, key) ? this.#storedConfirmed[key] : undefined;
    if (stored && stored.version > mirror.confirmed.version) mirror.confirmed = stored;
  }

  async #enqueue(mirror: Mirror, name: string, body: unknown): Promise<Enqueued> {
    // An internal command is the platform's alone: the API answers it 404, as one that does not exist.
    const parsed = mirror.entity.isPublicCommand(name) ? mirror.entity.parseCommand(name, body) : undefined;
    if (!parsed)
      return { queued: false, errors: [{ path: "(command)", message: `${mirror.type} has no command ${name}` }] };
    if (!parsed.ok) return { queued: false, errors: parsed.errors };
    await this.#ready;
    this.#session ??= crypto.randomUUID();
    const seq = this.#nextSeq++;
    const command: QueuedCommand = {
      seq,
      entityType: mirror.type,
      entityId: mirror.id,
      command: name,
      body,
      madeAt: Date.now(),
    };
    await this.#store.add(command, this.#session, this.#nextSeq);
    // Adds may finish out of order; the queue stays in the order the commands were made.
    this.#queue = [...this.#queue, command].sort((a, b) => a.seq - b.seq);
    this.#emit();
    this.sync();
    return { queued: true, seq };
  }

  /**
   * Starts sending the oldest waiting command of each entity that has none in flight, the oldest
   * first, until `concurrency` entities are in flight. Each entity's commands go one at a time and
   * in order (the promise "Exactly once, precisely" rests on); entities go independently, so one
   * whose answer is slow holds back no other. Oldest first rotates between entities: an entity just
   * answered goes behind those whose next command was made before its next one. Nothing starts
   * while a backoff runs.
   */
  #pump(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    for (const command of this.#queue) {
      if (this.#sending.size >= this.#concurrency) return;
      const key = keyOf(command.entityType, command.entityId);
      if (this.#sending.has(key)) continue;
      this.#sending.add(key);
      void this.#lane(key);
    }
  }

  /** Sends `key`'s oldest waiting command, backs off if it must wait, then starts what is next. */
  async #lane(key: string): Promise<void> {
    // A store that fails to remove an answered command (quota, a closed database) retries later:
    // the command is sent again and answered from its record. Any other throw (a bug) likewise,
    // rather than stop syncing for good.
    const outcome = await this.#sendNext(key).catch((): Answer => ({ kind: "retry", afterMs: null }));
    this.#sending.delete(key);
    if (outcome.kind === "retry") this.#backOff(outcome);
    this.#pump();
  }

  /**
   * Pauses sending after a command must wait: no command starts until a jittered exponential
   * backoff (at least the answer's Retry-After) has passed, or sync() is called. Commands in flight
   * finish; their failures during the pause count as one with it (a network gone down fails every
   * entity at once).
   */
  #backOff(failed: Extract<Answer, { kind: "retry" }>): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    this.#failures++;
    this.#setConnection(failed.unauthorized ? "unauthorized" : "offline");
    const backoff = Math.random() * Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** Math.min(this.#failures, 16));
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined;
        this.#pump();
      },
      Math.max(failed.afterMs ?? 0, backoff),
    );
  }

  /** Sends an entity's oldest waiting command and, once answered, takes it off the queue. */
  async #sendNext(key: string): Promise<{ readonly kind: "done" } | Extract<Answer, { kind: "retry" }>> {
    const head = this.#queue.find((c) => keyOf(c.entityType, c.entityId) === key);
    if (!head) return { kind: "done" };
    const answer = await this.#send(head);
    if (answer.kind === "retry") return answer;
    await this.#store.remove(head.seq, answer.rejection);
    this.#queue = this.#queue.filter((c) => c.seq !== head.seq);
    if (answer.rejection) this.#rejections = [...this.#rejections, answer.rejection];
    this.#emit();
    return { kind: "done" };
  }

  /**
   * Sends `command` once, within `commandTimeoutMs` (its answer read included): past it, or on
   * close(), the request is aborted and counts as a network error, so the command is sent again
   * under the same number, which the server answers from its record if the first attempt was
   * decided after all.
   */
  async #send(command: QueuedCommand): Promise<Answer> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#commandTimeoutMs);
    this.#aborts.add(abort);
    try {
      return await this.#post(command, abort.signal);
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    }
  }

  async #post(command: QueuedCommand, signal: AbortSignal): Promise<Answer> {
    const session = this.#session;
    if (session === null) throw new Error("a queued command without a client session");
    const mirror = this.#mirror(command.entityType, command.entityId);
    let res: Response;
    try {
      res = await this.#fetch(
        `${this.#base}/v1/entities/${command.entityType}/${encodeURIComponent(command.entityId)}/commands/${command.command}`,
        {
          method: "POST",
          headers: {
            authorization: this.#auth,
            "content-type": "application/json",
            "factline-client-session": session,
            "factline-client-seq": String(command.seq),
          },
          body: JSON.stringify(command.body),
          signal,
        },
      );
    } catch {
      return { kind: "retry", afterMs: null };
    }
    if (res.status === 401 || res.status === 403) return { kind: "retry", afterMs: null, unauthorized: true };
    // 408 and 425 are no decision: something on the way gave up on the request, or the server
    // would not take it early (RFC 9110 §15.5.9, RFC 8470 §5.2), so it may be sent again, as after
    // a 429 or 5xx; the session number keeps the retry exactly once.
    if (res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get("retry-after"));
      return { kind: "retry", afterMs: Number.isFinite(after) && after > 0 ? after * 1000 : null };
    }
    if (res.ok) {
      let result: { version: number; events: SequencedEvent[] };
      try {
        result = (await res.json()) as { version: number; events: SequencedEvent[] };
      } catch {
        // The answer broke off: the command was decided; sending it again is answered from its record.
        return { kind: "retry", afterMs: null };
      }
      this.#answered();
      this.#consistency = res.headers.get("factline-consistency") ?? this.#consistency;
      this.#confirm(mirror, result.events);
      // Below what this client confirmed: live events overtook the answer (or it was replayed from
      // its record), or the server's state was reset and this command began the entity again. The
      // log tells which, as for a refresh.
      if (result.version < mirror.confirmed.version) void this.#catchUp(mirror);
      return { kind: "done" };
    }
    this.#answered();
    const problem = (await res
      .json()
      .catch(() => ({ type: "about:blank", title: res.statusText, status: res.status, detail: "" }))) as CommandProblem;
    // Timed out while the answer was read: sent again, it is answered again (a rejection from its record).
    if (signal.aborted) return { kind: "retry", afterMs: null };
    // A rejection usually means the entity moved on without us: rebase on its log. That includes
    // 409 client-command-answered: the entity decided a later number of this session, which this
    // client sends only once this command's answer is removed from the outbox, so a command still
    // queued meets it only when the outbox's numbering went back (a restored or copied outbox).
    // Reported, never dropped as answered: it was not decided under this number.
    void this.#catchUp(mirror);
    return {
      kind: "done",
      rejection: {
        seq: command.seq,
        entityType: command.entityType,
        entityId: command.entityId,
        command: command.command,
        body: command.body,
        problem,
        rejectedAt: Date.now(),
      },
    };
  }

  /** Stores a mirror's confirmed state, best effort: it is a cache of the server's, read again if lost. */
  #saveConfirmed(mirror: Mirror, confirmed: ConfirmedState): void {
    void this.#store.saveConfirmed(keyOf(mirror.type, mirror.id), confirmed).catch(() => undefined);
  }

  #answered(): void {
    this.#failures = 0;
    this.#lastSyncAt = Date.now();
    this.#setConnection("online");
  }

  #setConnection(connection: ConnectionState): void {
    if (this.#connection === connection) return;
    this.#connection = connection;
    this.#emit();
  }

  /** Applies confirmed events; a gap is filled from the log. */
  #confirm(mirror: Mirror, events: readonly SequencedEvent[]): void {
    const { confirmed, gap } = applyConfirmed(mirror.entity, mirror.confirmed, events);
    if (confirmed !== mirror.confirmed) {
      mirror.confirmed = confirmed;
      this.#confirmations++;
      this.#saveConfirmed(mirror, confirmed);
      this.#emit();
    }
    if (gap) void this.#catchUp(mirror);
  }

  /** Reads the log after the confirmed version, page by page, until the end. */
  #catchUp(mirror: Mirror): Promise<void> {
    mirror.catchingUp ??= (async () => {
      try {
        for (;;) {
          const after = mirror.confirmed.version;
          const res = await this.#fetch(
            `${this.#base}/v1/entities/${mirror.type}/${encodeURIComponent(mirror.id)}/events?after=${after}&limit=1000`,
            {
              headers: { authorization: this.#auth },
            },
          );
          if (await this.#forgotten(mirror, res, after)) continue;
          if (!res.ok) return;
          const page = (await res.json()) as { events: SequencedEvent[]; next: number | null };
          this.#confirm(mirror, page.events);
          if (page.next === null) return;
        }
      } catch {
        // Offline: the next answer or live event tries again.
      } finally {
        mirror.catchingUp = null;
      }
    })();
    return mirror.catchingUp;
  }

  /**
   * Whether `res` refused the mirror's position `after` as one the server's log does not reach:
   * 400 `cursor-past-end` (the server holds fewer events than this client confirmed) or, for a
   * position above 0, 404 `not-found` (it holds none: the answer to a log page of an entity
   * without events). Either is a server whose state was reset (a local instance started afresh,
   * or wiped). The server is the authority, so the mirror starts again from the entity's
   * initial state at version 0 and follows the log from its start; true once it has, and the
   * caller asks again from there. The waiting commands stay queued: sent, they begin the entity
   * again. A 404 at position 0 is an entity with no events yet, as the client already has it:
   * false, so a follow keeps its backoff rather than asking again at once. If the mirror moved on
   * while the request was out (a command's answer or a live event after the reset), the refusal
   * is of a position it has left: nothing is reset, and the caller asks again from where it is.
   */
  async #forgotten(mirror: Mirror, res: Response, after: number): Promise<boolean> {
    const expected = res.status === 400 ? CURSOR_PAST_END : res.status === 404 && after > 0 ? NOT_FOUND : null;
    if (expected === null) return false;
    const body: unknown = await res.json().catch(() => null);
    if (typeof body !== "object" || body === null || !("type" in body) || body.type !== expected) return false;
    if (mirror.confirmed.version !== after) return true;
    mirror.confirmed = { version: 0, state: mirror.entity.initialState() };
    this.#confirmations++;
    this.#saveConfirmed(mirror, mirror.confirmed);
    this.#emit();
    return true;
  }

  async #refresh(mirror: Mirror): Promise<void> {
    await this.#loaded;
    const res = await this.#fetch(`${this.#base}/v1/entities/${mirror.type}/${encodeURIComponent(mirror.id)}`, {
      headers: { authorization: this.#auth },
    });
    if (res.status === 404) {
      // No events of it on the server. Nothing confirmed here: as the client has it. Something
      // confirmed: the server was wiped, or a command began the entity since this read (its events
      // then arrived first). The log tells which, as for a read below the confirmed version.
      await res.body?.cancel();
      if (mirror.confirmed.version > 0) await this.#catchUp(mirror);
      return;
    }
    if (!res.ok) throw new Error(`reading ${mirror.type} ${mirror.id} answered ${res.status}`);
    this.#answered();
    const read = (await res.json()) as { version: number; state: unknown };
    if (read.version > mirror.confirmed.version) {
      mirror.confirmed = { version: read.version, state: read.state };
      this.#confirmations++;
      this.#saveConfirmed(mirror, mirror.confirmed);
      this.#emit();
    } else if (read.version < mirror.confirmed.version) {
      // Behind what this client confirmed: an answer overtaken by live events, or a server whose
      // state was reset (the stored confirmed state outliving it). The log tells which: a reset
      // answers cursor-past-end and the mirror starts again from the server's events.
      await this.#catchUp(mirror);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  #follow(mirror: Mirror): () => void {
    const abort = new AbortController();
    this.#aborts.add(abort);
    void (async () => {
      // The load may seed the confirmed version this stream resumes after: open it only then.
      await this.#loaded;
      let failures = 0;
      while (!abort.signal.aborted && !this.#closed) {
        const stream = new AbortController();
        const stop = () => stream.abort();
        abort.signal.addEventListener("abort", stop);
        this.#streams.add(stream);
        // Silent for too long (headers included): a dead connection, reconnected as after a disconnect.
        const silence = silenceWatch(stream, this.#liveSilenceMs);
        try {
          // Exact resume: after the last event applied, whichever way it arrived.
          const after = mirror.confirmed.version;
          const res = await this.#fetch(
            `${this.#base}/v1/entities/${mirror.type}/${encodeURIComponent(mirror.id)}/events?after=${after}`,
            {
              headers: { authorization: this.#auth, accept: "text/event-stream" },
              signal: stream.signal,
            },
          );
          if (res.ok) {
            failures = 0;
            this.#answered();
            await readEventStream(
              res,
              (message) => {
                this.#lastSyncAt = Date.now();
                this.#confirm(mirror, [JSON.parse(message.data) as SequencedEvent]);
              },
              silence.alive,
            );
            // The server ended the stream (a revalidation, a restart): reconnect soon, after the last event.
            await this.#sleep(Math.random() * this.#retry.baseMs);
            continue;
          }
          if (await this.#forgotten(mirror, res, after)) continue;
          await res.body?.cancel();
          if (res.status === 401 || res.status === 403) this.#setConnection("unauthorized");
        } catch {
          if (abort.signal.aborted) break;
          this.#setConnection("offline");
        } finally {
          silence.stop();
          abort.signal.removeEventListener("abort", stop);
          this.#streams.delete(stream);
        }
        failures++;
        await this.#sleep(
          Math.random() * Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** Math.min(failures, 16)),
        );
      }
    })();
    return () => {
      abort.abort();
      this.#aborts.delete(abort);
    };
  }
  /**
   * Follows a view's change feed over SSE from the tail (`offset=now`), calling `changed` once the
   * first control event has fixed the offset (the view read then covers every change up to it) and
   * after each control event that follows changes; `missing` (and stops) if the server has no feed.
   * SSE rather than long-poll: one request per minute while idle instead of one per timeout, and
   * the data of a page and its offset arrive together. The offset moves only on a control event,
   * so a connection cut between the two resumes before those changes and reports them again. An
   * offset the server refuses (410 pruned, 400 past its tail) starts the feed again at the tail.
   */
  async #followViewFeed(
    view: string,
    signal: AbortSignal,
    on: { readonly changed: () => void; readonly missing: () => void },
  ): Promise<void> {
    let offset = "now";
    let started = false;
    let failures = 0;
    while (!signal.aborted && !this.#closed) {
      const stream = new AbortController();
      const stop = () => stream.abort();
      signal.addEventListener("abort", stop);
      this.#streams.add(stream);
      // Silent for too long: a dead connection, resumed from the offset as after a disconnect.
      const silence = silenceWatch(stream, this.#liveSilenceMs);
      try {
        const res = await this.#fetch(
          `${this.#base}/v1/views/${encodeURIComponent(view)}/changes/stream?offset=${offset}&live=sse`,
          { headers: { authorization: this.#auth, accept: "text/event-stream" }, signal: stream.signal },
        );
        if (res.status === 404) {
          await res.body?.cancel();
          on.missing();
          return;
        }
        if (res.ok) {
          failures = 0;
          this.#answered();
          let changes = 0;
          await readEventStream(
            res,
            (message) => {
              this.#lastSyncAt = Date.now();
              if (message.event === "data") changes += parseViewChanges(message.data).length;
              if (message.event !== "control") return;
              offset = parseControlOffset(message.data);
              if (!started || changes > 0) on.changed();
              started = true;
              changes = 0;
            },
            silence.alive,
          );
          // The server ended the stream (every 60 s, to re-authenticate): reconnect soon, from the offset.
          await this.#sleep(Math.random() * this.#retry.baseMs);
          continue;
        }
        await res.body?.cancel();
        if (res.status === 401 || res.status === 403) this.#setConnection("unauthorized");
        // The offset is no longer one to resume from: changes after it were pruned (410
        // offset-gone), or the server holds fewer than it (400 cursor-past-end, a server reset).
        // Start again at the tail: its first control event reads the whole view again.
        if (res.status === 410 || res.status === 400) {
          offset = "now";
          started = false;
        }
      } catch {
        if (signal.aborted) break;
        // A network error or a message that is not the feed's: reconnect from the last offset.
        this.#setConnection("offline");
      } finally {
        silence.stop();
        signal.removeEventListener("abort", stop);
        this.#streams.delete(stream);
      }
      failures++;
      await this.#sleep(Math.random() * Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** Math.min(failures, 16)));
    }
  }
}
