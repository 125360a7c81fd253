// factline/client in Node, imported by the package's own name (package.json `exports`), with its
// outbox in a JSON file: queued commands, the client session and the next number survive a
// restart, and a client on the reopened file sends them in the order they were made.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "factline/client";
import { openFileOutbox } from "factline/client/file-outbox";
import { afterEach, describe, expect, it } from "vitest";
import { inventory } from "../../src/domain/inventory.js";

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "factline-outbox-"));
  dirs.push(dir);
  return join(dir, "outbox.json");
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const offline: typeof fetch = async () => {
  throw new TypeError("fetch failed (offline)");
};

describe("the file outbox", () => {
  it("keeps queued commands, the session and the next number across a reopen", async () => {
    const path = tempFile();
    const outbox = await openFileOutbox(path);
    await outbox.add(
      { seq: 1, entityType: "inventory", entityId: "a", command: "restock", body: { quantity: 1 }, madeAt: 1 },
      "session-0000000000000001",
      2,
    );
    await outbox.add(
      { seq: 2, entityType: "inventory", entityId: "b", command: "restock", body: { quantity: 2 }, madeAt: 2 },
      "session-0000000000000001",
      3,
    );
    await outbox.remove(1);
    await outbox.saveConfirmed("inventory/a", { version: 1, state: { onHand: 1 } });

    const reopened = await (await openFileOutbox(path)).load();
    expect(reopened).toMatchObject({
      session: "session-0000000000000001",
      nextSeq: 3,
      confirmed: { "inventory/a": { version: 1 } },
    });
    expect(reopened.commands.map((c) => c.seq)).toEqual([2]);
  });

  it("leaves no temporary file behind (each write replaces the file by a rename)", async () => {
    const path = tempFile();
    const outbox = await openFileOutbox(path);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        outbox.add(
          { seq: i + 1, entityType: "inventory", entityId: "a", command: "restock", body: { quantity: 1 }, madeAt: i },
          "session-0000000000000001",
          i + 2,
        ),
      ),
    );
    expect(readdirSync(join(path, ".."))).toEqual(["outbox.json"]);
    expect((await (await openFileOutbox(path)).load()).commands).toHaveLength(20);
  });

  it("gives a restarted client the commands an earlier one queued, in the order they were made", async () => {
    const path = tempFile();
    const first = createClient({
      baseUrl: "http://127.0.0.1:9",
      apiKey: "fl_x",
      entities: [inventory],
      outbox: await openFileOutbox(path),
      fetch: offline,
      retry: { baseMs: 60_000, maxMs: 60_000 },
    });
    const sku = first.entity("inventory", "sku-1");
    await sku.command("restock", { quantity: 3 });
    await sku.command("reserve", { orderId: "o-1", quantity: 2 });
    first.close();

    const second = createClient({
      baseUrl: "http://127.0.0.1:9",
      apiKey: "fl_x",
      entities: [inventory],
      outbox: await openFileOutbox(path),
      fetch: offline,
      retry: { baseMs: 60_000, maxMs: 60_000 },
    });
    await second.ready();
    const again = second.entity("inventory", "sku-1");
    expect(again.pending.map((p) => [p.seq, p.command])).toEqual([
      [1, "restock"],
      [2, "reserve"],
    ]);
    expect(again.state).toMatchObject({ onHand: 3, reserved: 2, available: 1 });
    second.close();
  });
});
