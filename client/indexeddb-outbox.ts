// The outbox in a browser's IndexedDB (through `idb`): commands survive reloads and restarts.
// Object stores: `commands` (by seq), `meta` (the owner; the session and next number),
// `confirmed` (by entity key),
// `rejections` (by seq).
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import {
  OutboxInUseError,
  type ConfirmedState,
  type OutboxContents,
  type OutboxStore,
  type QueuedCommand,
  type RejectedCommand,
} from "./outbox.js";

interface OutboxSchema extends DBSchema {
  commands: { key: number; value: QueuedCommand };
  meta: { key: "session" | "owner"; value: { session: string; nextSeq: number } | { owner: string } };
  confirmed: { key: string; value: ConfirmedState };
  rejections: { key: number; value: RejectedCommand };
}

/** The Web Locks API (lib.dom's LockManager), where the browser has it. */
interface Locks {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<void>): Promise<void>;
}

/**
 * Opens (creating if needed) the IndexedDB database `name` as an outbox, for this page's lifetime.
 * One page at a time: two tabs numbering commands in one client session could give two commands
 * the same number, so the outbox is held under a Web Lock and a second tab is refused with
 * OutboxInUseError (it can ask its user to close the other, or use another name and session).
 */
export async function openIndexedDbOutbox(name = "factline-outbox"): Promise<OutboxStore> {
  const locks = typeof navigator === "undefined" ? undefined : (navigator as { locks?: Locks }).locks;
  if (locks) {
    const held = await new Promise<boolean>((resolve) => {
      // The callback's promise never settles: the lock is released when the page goes away.
      void locks.request(`factline-outbox:${name}`, { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        return lock === null ? Promise.resolve() : new Promise<void>(() => undefined);
      });
    });
    if (!held) throw new OutboxInUseError(`the outbox ${name} is open in another tab of this browser`);
  }
  const db = await openDB<OutboxSchema>(name, 2, {
    upgrade(database, oldVersion) {
      if (oldVersion < 1) {
        database.createObjectStore("commands", { keyPath: "seq" });
        database.createObjectStore("meta");
        database.createObjectStore("confirmed");
      }
      if (oldVersion < 2) database.createObjectStore("rejections", { keyPath: "seq" });
    },
  });
  return new IndexedDbOutboxStore(db);
}

class IndexedDbOutboxStore implements OutboxStore {
  readonly #db: IDBPDatabase<OutboxSchema>;

  constructor(db: IDBPDatabase<OutboxSchema>) {
    this.#db = db;
  }

  async load(): Promise<OutboxContents> {
    const tx = this.#db.transaction(["commands", "meta", "confirmed", "rejections"]);
    const [commands, meta, owned, keys, states, rejections] = await Promise.all([
      tx.objectStore("commands").getAll(),
      tx.objectStore("meta").get("session"),
      tx.objectStore("meta").get("owner"),
      tx.objectStore("confirmed").getAllKeys(),
      tx.objectStore("confirmed").getAll(),
      tx.objectStore("rejections").getAll(),
    ]);
    const confirmed: Record<string, ConfirmedState> = {};
    keys.forEach((key, i) => {
      const state = states[i];
      if (state !== undefined) Object.defineProperty(confirmed, key, { value: state, enumerable: true });
    });
    const session = meta !== undefined && "session" in meta ? meta : undefined;
    const owner = owned !== undefined && "owner" in owned ? owned.owner : null;
    return {
      owner,
      session: session?.session ?? null,
      nextSeq: session?.nextSeq ?? 1,
      commands,
      confirmed,
      rejections,
    };
  }

  async claim(owner: string): Promise<void> {
    await this.#db.put("meta", { owner }, "owner");
  }

  async add(command: QueuedCommand, session: string, nextSeq: number): Promise<void> {
    // One transaction: the number and the command are durable together, or neither is.
    const tx = this.#db.transaction(["commands", "meta"], "readwrite");
    await Promise.all([
      tx.objectStore("commands").put(command),
      tx.objectStore("meta").put({ session, nextSeq }, "session"),
      tx.done,
    ]);
  }

  async remove(seq: number, rejection?: RejectedCommand): Promise<void> {
    const tx = this.#db.transaction(["commands", "rejections"], "readwrite");
    await Promise.all([
      tx.objectStore("commands").delete(seq),
      rejection ? tx.objectStore("rejections").put(rejection) : undefined,
      tx.done,
    ]);
  }

  async dismiss(seq: number): Promise<void> {
    await this.#db.delete("rejections", seq);
  }

  async saveConfirmed(key: string, confirmed: ConfirmedState): Promise<void> {
    await this.#db.put("confirmed", confirmed, key);
  }
}
