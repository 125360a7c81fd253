// A process that races for file outboxes on its parent's word, for file-outbox.test.ts: each line
// on stdin `open <path>` opens that outbox and answers `opened` or `in-use` (or `error <message>`);
// `close` closes the outbox it opened; each answer is one line on stdout. It answers `ready` first,
// once loaded, so the parent can start both racers' opens at the same moment.
import { createInterface } from "node:readline";
import { type FileOutbox, OutboxInUseError, openFileOutbox } from "../../client/file-outbox.js";

let held: FileOutbox | undefined;
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const [verb, path] = line.split(" ", 2);
  if (verb === "open" && path !== undefined) {
    try {
      held = await openFileOutbox(path);
      process.stdout.write("opened\n");
    } catch (error) {
      process.stdout.write(error instanceof OutboxInUseError ? "in-use\n" : `error ${String(error)}\n`);
    }
  } else if (verb === "close") {
    await held?.close();
    held = undefined;
    process.stdout.write("closed\n");
  }
});
lines.on("close", () => process.exit(0));
process.stdout.write("ready\n");
