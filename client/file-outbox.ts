// The outbox in a JSON file, for Node: commands survive restarts. Every change rewrites the file
// through a temporary file and a rename, so a crash leaves the old or the new contents, never half.
// One holder at a time, across processes and within one: two clients numbering commands in one
// client session would give two commands one number, and the server would refuse the second
// (422 client-sequence-reused), so the file is held under a lock file beside it.
import { readFileSync, unlinkSync } from "node:fs";
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises";
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
 * process (this one included) holds it; a lock left by a process that has died is taken over.
 * Taking over is not atomic: two processes opening the same file at the same instant over a
 * dead process's lock could both proceed, so start one process per outbox file.
 */
export async function openFileOutbox(path: string): Promise<FileOutbox> {
  const lockPath = `${path}.lock`;
  await hold(lockPath);
  const release = () => {
    process.off("exit", release);
    // Only a lock that is still ours: never one another process has taken over since.
    try {
      if (readPid(lockPath) === process.pid) unlinkSync(lockPath);
    } catch {
      // Gone already.
    }
  };
  // A process that ends without close() leaves no lock behind (a crash leaves one: taken over).
  process.on("exit", release);
  let contents: FileContents = { session: null, nextSeq: 1, commands: [], confirmed: {}, rejections: [] };
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

/**
 * Creates `lockPath` holding this process's pid, or takes it over from a process that has died;
 * throws OutboxInUseError while a live process holds it. The lock is written whole under a
 * temporary name and linked into place, which fails if the name exists (EEXIST): exclusive, and
 * never seen half-written.
 */
async function hold(lockPath: string): Promise<void> {
  const temporary = `${lockPath}.${process.pid}.tmp`;
  await writeFile(temporary, String(process.pid));
  try {
    // Twice at most: once more after taking a dead process's lock away.
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temporary, lockPath);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== "EEXIST") throw error;
      }
      const holder = readPid(lockPath);
      if (attempt > 0 || (holder !== null && alive(holder)))
        throw new OutboxInUseError(
          `the outbox ${lockPath.slice(0, -".lock".length)} is open in ${holder === process.pid ? "this process" : `process ${holder}`} (lock file ${lockPath}): one holder at a time`,
        );
      await unlink(lockPath).catch(() => undefined);
    }
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** The pid a lock file holds, or null if it holds none (gone, or not a lock of ours). */
function readPid(lockPath: string): number | null {
  try {
    const pid = Number(readFileSync(lockPath, "utf8"));
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
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
