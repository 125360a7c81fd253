// The outbox in a JSON file, for Node: commands survive restarts. Every change rewrites the file
// through a temporary file and a rename, so a crash leaves the old or the new contents, never half.
import { readFile, rename, writeFile } from "node:fs/promises";
import type { ConfirmedState, OutboxContents, OutboxStore, QueuedCommand, RejectedCommand } from "./outbox.js";

interface FileContents {
  session: string | null;
  nextSeq: number;
  commands: QueuedCommand[];
  confirmed: Record<string, ConfirmedState>;
  rejections: RejectedCommand[];
}

/** Opens the outbox kept in `path` (created on the first write). One process per file. */
export async function openFileOutbox(path: string): Promise<OutboxStore> {
  let contents: FileContents = { session: null, nextSeq: 1, commands: [], confirmed: {}, rejections: [] };
  try {
    contents = { ...contents, ...(JSON.parse(await readFile(path, "utf8")) as Partial<FileContents>) };
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw error;
  }
  let writing: Promise<void> = Promise.resolve();
  // Writes are serialised: each persists the contents as of its turn.
  const persist = (): Promise<void> => {
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
  };
}
