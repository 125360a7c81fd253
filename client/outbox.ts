// The client's durable outbox: the commands a user made that the server has not yet answered, in
// the order they were made, with the client session they are numbered in, the rejections not yet
// dismissed, and the last confirmed state of each entity the client mirrors (so an offline reload
// shows something). One interface,
// three stores: memory (tests, short-lived scripts), IndexedDB (browsers, indexeddb-outbox.ts) and
// a JSON file (Node, file-outbox.ts).

/** A command waiting for its answer. `seq` is its number in the client session (1, 2, 3…). */
export interface QueuedCommand {
  readonly seq: number;
  readonly entityType: string;
  readonly entityId: string;
  readonly command: string;
  /** The body exactly as it will be sent (a retry must send the same body). */
  readonly body: unknown;
  /** When the user made it (epoch ms). */
  readonly madeAt: number;
}

/** The problem document (RFC 9457) the server answered a command with. */
export interface CommandProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** The domain's rejection code (business-rule rejections). */
  readonly code?: string;
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

/** A command the server refused for good: what was asked and why, for the application to show. */
export interface RejectedCommand {
  readonly seq: number;
  readonly entityType: string;
  readonly entityId: string;
  readonly command: string;
  readonly body: unknown;
  readonly problem: CommandProblem;
  readonly rejectedAt: number;
}

/** An entity's state as the server last confirmed it. */
export interface ConfirmedState {
  readonly version: number;
  readonly state: unknown;
}

/** What a store holds when it is opened. */
export interface OutboxContents {
  /**
   * Whose commands and confirmed states these are: the server's origin and the API key's id
   * (`outboxOwner`), claimed by the first client that opened the store; null before. A client
   * with another key or server refuses the store (OutboxOwnerError), so one tenant's queued
   * commands are never sent with another's key, nor its cached states shown to another.
   */
  readonly owner: string | null;
  /** The client session id, or null before the first command. */
  readonly session: string | null;
  /** The number the next command gets. */
  readonly nextSeq: number;
  /** Waiting commands, in `seq` order. */
  readonly commands: readonly QueuedCommand[];
  /** Confirmed states by entity key (`type/id`). */
  readonly confirmed: Readonly<Record<string, ConfirmedState>>;
  /** Rejections not yet dismissed, oldest first. */
  readonly rejections: readonly RejectedCommand[];
}

/**
 * Where the outbox lives. `add` must persist the command together with the session and the next
 * number (so a number is never handed out twice, even across a crash), and resolve only once it is
 * durable: the client tells the application a command is queued only after that.
 */
export interface OutboxStore {
  load(): Promise<OutboxContents>;
  /** Records the store's owner (`OutboxContents.owner`), durably, before the client writes anything else. */
  claim(owner: string): Promise<void>;
  add(command: QueuedCommand, session: string, nextSeq: number): Promise<void>;
  /** Removes an answered command; with a rejection, keeps the rejection in the same write. */
  remove(seq: number, rejection?: RejectedCommand): Promise<void>;
  /** Forgets a rejection the application has shown. */
  dismiss(seq: number): Promise<void>;
  saveConfirmed(key: string, confirmed: ConfirmedState): Promise<void>;
  /**
   * Releases what the store holds (the file outbox's lock) once its writes are done; writes after
   * it are refused. The client's `close()` calls it. Absent: nothing to release.
   */
  close?(): Promise<void>;
}

/**
 * The outbox is held by another page or process (a browser's other tab, another Node process or
 * client on the same file): one holder at a time, since two numbering commands in one client
 * session could give two commands one number.
 */
export class OutboxInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboxInUseError";
  }
}

/**
 * Thrown (the client's `ready()` rejects, and so does every command) when an outbox holds the
 * commands and states of another key or server than the client's: `owner` is the outbox's,
 * `client` the client's (`<origin> <key id>`). Open the outbox with its key to send what it
 * holds, give this client another outbox, or pass `adoptOutbox: true` for a key of the same
 * tenant that replaced the one it was filled with.
 */
export class OutboxOwnerError extends Error {
  constructor(
    readonly owner: string,
    readonly client: string,
  ) {
    super(`this outbox belongs to ${owner}, not ${client}: open it with its own key, or use another outbox`);
    this.name = "OutboxOwnerError";
  }
}

/**
 * The owner of the outbox a client with `apiKey` on `baseUrl` fills: `<origin> <key id>`, the key
 * id being a Factline key's public part (`fl_<id>_<secret>`) or, for a key of another form, the
 * first 16 hex digits of its SHA-256 (never the secret itself).
 */
export async function outboxOwner(baseUrl: string, apiKey: string): Promise<string> {
  const id = /^fl_([0-9a-f]{16})_/.exec(apiKey)?.[1];
  if (id !== undefined) return `${new URL(baseUrl).origin} ${id}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(apiKey)));
  const hex = [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${new URL(baseUrl).origin} sha256:${hex}`;
}

/** An outbox in memory: lost with the process; for tests and scripts. */
export class MemoryOutboxStore implements OutboxStore {
  #owner: string | null = null;
  #session: string | null = null;
  #nextSeq = 1;
  readonly #commands = new Map<number, QueuedCommand>();
  readonly #confirmed = new Map<string, ConfirmedState>();
  readonly #rejections = new Map<number, RejectedCommand>();

  async load(): Promise<OutboxContents> {
    return {
      owner: this.#owner,
      session: this.#session,
      nextSeq: this.#nextSeq,
      commands: [...this.#commands.values()].sort((a, b) => a.seq - b.seq),
      confirmed: Object.fromEntries(this.#confirmed),
      rejections: [...this.#rejections.values()].sort((a, b) => a.seq - b.seq),
    };
  }

  async claim(owner: string): Promise<void> {
    this.#owner = owner;
  }

  async add(command: QueuedCommand, session: string, nextSeq: number): Promise<void> {
    this.#session = session;
    this.#nextSeq = nextSeq;
    this.#commands.set(command.seq, command);
  }

  async remove(seq: number, rejection?: RejectedCommand): Promise<void> {
    this.#commands.delete(seq);
    if (rejection) this.#rejections.set(seq, rejection);
  }

  async dismiss(seq: number): Promise<void> {
    this.#rejections.delete(seq);
  }

  async saveConfirmed(key: string, confirmed: ConfirmedState): Promise<void> {
    this.#confirmed.set(key, confirmed);
  }
}
