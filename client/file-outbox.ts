// The outbox in a JSON file, for Node: commands survive restarts. Every change rewrites the file
// through a temporary file and a rename, so a crash leaves the old or the new contents, never half.
// One holder at a time, across processes and within one: two clients numbering commands in one
// client session would give two commands one number, and the server would refuse the second
// (422 client-sequence-reused), so the file is held under a lock file beside it.
import { randomUUID } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { type FileHandle, link, open, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import {
  OutboxInUseError,
  type ConfirmedState,
  type OutboxContents,
  type OutboxStore,
  type QueuedCommand,
  type RejectedCommand,
} from "./outbox.js";

export { OutboxInUseError };

interface FileContents {
  owner: string | null;
  session: string | null;
  nextSeq: number;
  commands: QueuedCommand[];
  confirmed: Record<string, ConfirmedState>;
  rejections: RejectedCommand[];
}

/** A file outbox: an OutboxStore whose `close()` releases the file for another holder. */
export type FileOutbox = OutboxStore & { close(): Promise<void> };

/**
 * Opens the outbox kept in `path` (created on the first write) and holds it until `close()` (the
 * client's `close()` calls it) or the process exits. The hold is the lock file `<path>.lock`,
 * created exclusively and holding this process's pid. Rejects with OutboxInUseError while a live
 * process (this one included) holds it; a lock left by a process that has died is taken over, by
 * one opener only however many race for it (the others are refused as for a live holder).
 */
export async function openFileOutbox(file: string): Promise<FileOutbox> {
  // One name per file, so that this process's record of the locks it holds is not fooled by `./x` and `x`.
  const path = resolve(file);
  const lockPath = `${path}.lock`;
  await hold(lockPath);
  const release = () => {
    process.off("exit", release);
    heldHere.delete(lockPath);
    // Only a lock that is still ours: never one another process has taken over since.
    try {
      if (readPid(lockPath) === process.pid) unlinkSync(lockPath);
    } catch {
      // Gone already.
    }
  };
  // A process that ends without close() leaves no lock behind (a crash leaves one: taken over).
  process.on("exit", release);
  let contents: FileContents = { owner: null, session: null, nextSeq: 1, commands: [], confirmed: {}, rejections: [] };
  try {
    contents = { ...contents, ...(JSON.parse(await readFile(path, "utf8")) as Partial<FileContents>) };
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") {
      release();
      throw error;
    }
  }
  let closed = false;
  let writing: Promise<void> = Promise.resolve();
  // Writes are serialised: each persists the contents as of its turn. None after close(): the
  // file may have another holder by then.
  const persist = (): Promise<void> => {
    if (closed) return Promise.reject(new Error(`the outbox ${path} is closed`));
    writing = writing.then(async () => {
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(contents));
      await rename(temporary, path);
    });
    return writing;
  };
  return {
    async load(): Promise<OutboxContents> {
      return { ...contents, commands: [...contents.commands].sort((a, b) => a.seq - b.seq) };
    },
    claim(owner) {
      contents = { ...contents, owner };
      return persist();
    },
    add(command, session, nextSeq) {
      contents = { ...contents, session, nextSeq, commands: [...contents.commands, command] };
      return persist();
    },
    remove(seq, rejection) {
      contents = {
        ...contents,
        commands: contents.commands.filter((c) => c.seq !== seq),
        rejections: rejection ? [...contents.rejections, rejection] : contents.rejections,
      };
      return persist();
    },
    dismiss(seq) {
      contents = { ...contents, rejections: contents.rejections.filter((r) => r.seq !== seq) };
      return persist();
    },
    saveConfirmed(key, confirmed) {
      contents = { ...contents, confirmed: { ...contents.confirmed, [key]: confirmed } };
      return persist();
    },
    async close() {
      if (closed) return;
      closed = true;
      await writing.catch(() => undefined);
      release();
    },
  };
}

/** How often `hold` tries again when the lock file changes under it (racing openers); then it refuses. */
const HOLD_ATTEMPTS = 8;

/**
 * Makes `lockPath` hold this process's pid, taking it over from a process that has died; throws
 * OutboxInUseError while a live process holds it, or is taking it over. The lock is written whole
 * under a temporary name of this call's own, so it is never seen half-written, and put in place by
 * one of two atomic steps (POSIX): `link`, which fails if the name exists (EEXIST), when there is
 * no lock; `rename` over a dead process's lock, which replaces it without a moment with no lock.
 * Only the opener holding that dead lock's takeover claim may replace it, and only while it is
 * still the very file judged dead, so two openers never both take one lock over (`takeOver`).
 */
async function hold(lockPath: string): Promise<void> {
  // This process's opens of one file, one at a time: `heldHere` then says for each whether a lock
  // holding this process's pid is one of them, with no window between a link and its record.
  const before = opening.get(lockPath) ?? Promise.resolve();
  const turn = before.then(async () => {
    const temporary = `${lockPath}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(temporary, String(process.pid));
    const outbox = lockPath.slice(0, -".lock".length);
    try {
      await acquire(lockPath, temporary, outbox);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
    // Still this open's turn: no other open of the file in this process has a temporary file yet.
    await sweepLeftovers(outbox);
  });
  const settled = turn.catch(() => undefined);
  opening.set(lockPath, settled);
  try {
    await turn;
  } finally {
    if (opening.get(lockPath) === settled) opening.delete(lockPath);
  }
}

/**
 * The lock files (and, while it takes a lock over, the claims) this process holds. A lock file
 * holding this process's pid that is not one of them was left by an earlier process that had the
 * same pid (a container's app runs as the same pid after every restart), and is taken over as any
 * dead process's is.
 */
const heldHere = new Set<string>();
/** Each lock path's open under way in this process (`hold`). */
const opening = new Map<string, Promise<void>>();

/** Whether the lock holding `pid` at `path` is held by a live process: another that runs, or this one, holding it. */
function heldByLive(path: string, pid: number | null): boolean {
  if (pid === null) return false;
  return pid === process.pid ? heldHere.has(path) : alive(pid);
}

/**
 * Puts `temporary` (this process's pid) at `path` unless a live process holds `path`: then throws
 * OutboxInUseError naming `outbox`, the file the lock is for.
 */
async function acquire(path: string, temporary: string, outbox: string): Promise<void> {
  for (let attempt = 0; attempt < HOLD_ATTEMPTS; attempt++) {
    try {
      await link(temporary, path);
      heldHere.add(path);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    }
    const held = await inspect(path);
    // Released since the link failed: try again.
    if (held === undefined) continue;
    if (heldByLive(path, held.pid)) throw inUse(outbox, held.pid);
    if (await takeOver(path, held, temporary, outbox)) {
      heldHere.add(path);
      return;
    }
  }
  throw inUse(outbox, (await inspect(path))?.pid ?? null);
}

/**
 * Replaces the dead holder's lock `stale` at `path` with `temporary`; false when `path` is no longer
 * that file (another opener took it over first, or it was released). The claim `<path>.<inode>.takeover`,
 * named by the dead lock's inode and itself a lock (so taken by `acquire`: a claimer that died is
 * taken over in turn), lets one opener at a time replace that file. Holding it, the opener checks
 * that `path` is still the file judged dead (inode and pid: an inode may be reused once freed), and
 * nothing but the claim's holder replaces it meanwhile, so the check stays true until the rename.
 */
async function takeOver(path: string, stale: LockFile, temporary: string, outbox: string): Promise<boolean> {
  const claim = `${path}.${stale.ino}.takeover`;
  await acquire(claim, temporary, outbox);
  try {
    const now = await inspect(path);
    if (now === undefined || now.ino !== stale.ino || now.pid !== stale.pid) return false;
    // A new name for the lock, renamed in its place: `temporary` itself stays, since the takeover
    // of the lock this one's claim is for (when this one is of a dead claimer's claim) links it next.
    const copy = `${temporary}.${randomUUID()}`;
    await link(temporary, copy);
    try {
      await rename(copy, path);
    } catch (error) {
      await unlink(copy).catch(() => undefined);
      throw error;
    }
    return true;
  } finally {
    await unlink(claim).catch(() => undefined);
    heldHere.delete(claim);
  }
}

/**
 * Removes what processes that died while using the outbox at `path` left beside it: temporary
 * files (the contents' `<path>.<pid>.tmp`, a lock's `<path>.lock.<pid>.<uuid>.tmp` and its copy)
 * whose pid no longer runs, and takeover claims (`<path>.lock.<inode>.takeover`) whose claimer no
 * longer runs. Called once the lock is held, in the open's turn (`hold`): this process's own pid
 * among them is a leftover too, since nothing of this file's is being written under it yet. Best
 * effort: a name that vanishes or cannot be removed is left.
 */
async function sweepLeftovers(path: string): Promise<void> {
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const rest = name.slice(base.length + 1);
    const temporary = LEFTOVER_TEMPORARY.exec(rest);
    const claim = LEFTOVER_CLAIM.test(rest);
    if (!temporary && !claim) continue;
    const full = join(dirname(path), name);
    const pid = temporary ? Number(temporary[1]) : (await inspect(full).catch(() => undefined))?.pid;
    if (pid === undefined || (pid !== null && pid !== process.pid && alive(pid))) continue;
    await unlink(full).catch(() => undefined);
  }
}

/** After `<path>.`: a temporary file's name, with the pid of its writer. */
const LEFTOVER_TEMPORARY = /^(?:lock\.)?(\d+)\.(?:[0-9a-f-]{36}\.)?tmp(?:\.[0-9a-f-]{36})?$/;
/** After `<path>.`: a takeover claim's name (its pid is inside). */
const LEFTOVER_CLAIM = /^lock\.\d+\.takeover$/;

/** A lock file as read: its inode, and the pid it holds (null if none). */
interface LockFile {
  readonly ino: bigint;
  readonly pid: number | null;
}

/** The lock file at `path`, its inode and pid read through one handle (so of one file), or undefined if none. */
async function inspect(path: string): Promise<LockFile | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const { ino } = await handle.stat({ bigint: true });
    return { ino, pid: parsePid(await handle.readFile("utf8")) };
  } finally {
    await handle.close();
  }
}

function inUse(outbox: string, holder: number | null): OutboxInUseError {
  const where = holder === process.pid ? "this process" : `process ${holder}`;
  return new OutboxInUseError(
    `the outbox ${outbox} is open in ${where} (lock file ${outbox}.lock): one holder at a time`,
  );
}

/** The pid a lock file holds, or null if it holds none (gone, or not a lock of ours). */
function readPid(lockPath: string): number | null {
  try {
    return parsePid(readFileSync(lockPath, "utf8"));
  } catch {
    return null;
  }
}

/** The pid in a lock file's text, or null if it is not one. */
function parsePid(text: string): number | null {
  const pid = Number(text);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** Whether process `pid` is running: signal 0 checks without signalling (EPERM: running, not ours). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}
