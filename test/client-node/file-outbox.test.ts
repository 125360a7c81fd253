// factline/client in Node, imported by the package's own name (package.json `exports`), with its
// outbox in a JSON file: queued commands, the client session and the next number survive a
// restart, and a client on the reopened file sends them in the order they were made. One holder
// at a time (the lock file `<path>.lock`, holding the holder's pid): a second open, in this
// process or another live one, is refused until the first is closed or its process has died; a
// dead process's lock is taken over by exactly one of the opens racing for it, in one process or
// in several (outbox-racer.ts).
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { createClient, OutboxInUseError, OutboxOwnerError } from "factline/client";
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
    await outbox.close();

    const reopened = await (await openFileOutbox(path)).load();
    expect(reopened).toMatchObject({
      session: "session-0000000000000001",
      nextSeq: 3,
      confirmed: { "inventory/a": { version: 1 } },
    });
    expect(reopened.commands.map((c) => c.seq)).toEqual([2]);
  });

  it("leaves no temporary file behind (each write replaces the file by a rename), and no lock once closed", async () => {
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
    expect(readdirSync(join(path, "..")).sort()).toEqual(["outbox.json", "outbox.json.lock"]);
    await outbox.close();
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
    await first.close();

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
    await second.close();
  });

  it("refuses the outbox to a client of another key, sending none of its commands and showing none of its states", async () => {
    const path = tempFile();
    const tenantA = "fl_0123456789abcdef_secret-of-a";
    const tenantB = "fl_fedcba9876543210_secret-of-b";
    const clientOf = async (apiKey: string, fetch: typeof globalThis.fetch, adoptOutbox?: boolean) =>
      createClient({
        baseUrl: "http://127.0.0.1:9",
        apiKey,
        entities: [inventory],
        outbox: await openFileOutbox(path),
        fetch,
        retry: { baseMs: 60_000, maxMs: 60_000 },
        ...(adoptOutbox === undefined ? {} : { adoptOutbox }),
      });
    const first = await clientOf(tenantA, offline);
    await first.entity("inventory", "sku-1").command("restock", { quantity: 3 });
    await first.close();

    const sent: string[] = [];
    const recording: typeof fetch = async (input) => {
      sent.push(String(input));
      throw new TypeError("fetch failed (offline)");
    };
    const other = await clientOf(tenantB, recording);
    const refused = await other.ready().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(OutboxOwnerError);
    expect(refused).toMatchObject({
      owner: "http://127.0.0.1:9 0123456789abcdef",
      client: "http://127.0.0.1:9 fedcba9876543210",
    });
    await expect(other.entity("inventory", "sku-2").command("restock", { quantity: 1 })).rejects.toBeInstanceOf(
      OutboxOwnerError,
    );
    expect(other.entity("inventory", "sku-1").pending).toEqual([]);
    expect(sent.filter((url) => url.includes("/commands/"))).toEqual([]);
    await other.close();

    // A key that replaced the first in its tenant takes the outbox over when told to.
    const adopting = await clientOf(tenantB, offline, true);
    await adopting.ready();
    expect(adopting.entity("inventory", "sku-1").pending.map((p) => p.command)).toEqual(["restock"]);
    await adopting.close();
  });

  it("refuses a second open of the file while the first holds it, in the same process", async () => {
    const path = tempFile();
    const first = await openFileOutbox(path);
    await expect(openFileOutbox(path)).rejects.toThrow(OutboxInUseError);
    await expect(openFileOutbox(path)).rejects.toThrow(/is open in this process/);
    await first.close();
  });

  it("opens the file once its holder has closed it, with what the holder wrote", async () => {
    const path = tempFile();
    const first = await openFileOutbox(path);
    await first.add(
      { seq: 1, entityType: "inventory", entityId: "a", command: "restock", body: { quantity: 1 }, madeAt: 1 },
      "session-0000000000000001",
      2,
    );
    await first.close();
    const second = await openFileOutbox(path);
    expect((await second.load()).nextSeq).toBe(2);
    await second.close();
  });

  it("releases the file when the client on it closes", async () => {
    const path = tempFile();
    const client = createClient({
      baseUrl: "http://127.0.0.1:9",
      apiKey: "fl_x",
      entities: [inventory],
      outbox: await openFileOutbox(path),
      fetch: offline,
    });
    await client.entity("inventory", "sku-1").command("restock", { quantity: 1 });
    await client.close();
    await (await openFileOutbox(path)).close();
  });

  it("refuses to write once closed, so a late write cannot overwrite the next holder's", async () => {
    const path = tempFile();
    const outbox = await openFileOutbox(path);
    await outbox.close();
    await expect(outbox.saveConfirmed("inventory/a", { version: 1, state: {} })).rejects.toThrow(/closed/);
  });

  it("refuses an open while another live process holds the file", async () => {
    const path = tempFile();
    // The lock another process would leave: its pid (this test's parent process, which is running).
    writeFileSync(`${path}.lock`, String(process.ppid));
    await expect(openFileOutbox(path)).rejects.toThrow(OutboxInUseError);
    await expect(openFileOutbox(path)).rejects.toThrow(`process ${process.ppid}`);
  });

  it("takes over the lock of a process that died holding the file", async () => {
    const path = tempFile();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(`${path}.lock`, String(dead));
    const outbox = await openFileOutbox(path);
    await expect(openFileOutbox(path)).rejects.toThrow(/is open in this process/);
    await outbox.close();
  });
});

describe("taking over a dead process's lock", () => {
  /** A pid no process has: one that has just exited. */
  const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid;

  it("lets exactly one of two opens racing for it in, and refuses the other as in use", async () => {
    const dead = deadPid();
    // Rounds enough that the opens interleave every way the event loop and the file system allow.
    for (let round = 0; round < 200; round++) {
      const path = tempFile();
      writeFileSync(`${path}.lock`, String(dead));
      const results = await Promise.allSettled([openFileOutbox(path), openFileOutbox(path)]);
      const opened = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      expect(opened, `round ${round}`).toHaveLength(1);
      expect(refused[0], `round ${round}`).toBeInstanceOf(OutboxInUseError);
      await opened[0]?.close();
    }
  });

  it("lets exactly one of two processes racing for it in, and refuses the other as in use", async () => {
    const dead = deadPid();
    const racers = [startRacer(), startRacer()];
    try {
      await Promise.all(racers.map((r) => r.answer()));
      for (let round = 0; round < 25; round++) {
        const path = tempFile();
        writeFileSync(`${path}.lock`, String(dead));
        for (const r of racers) r.say(`open ${path}`);
        const answers = await Promise.all(racers.map((r) => r.answer()));
        expect([...answers].sort(), `round ${round}`).toEqual(["in-use", "opened"]);
        const winner = racers[answers.indexOf("opened")];
        winner?.say("close");
        expect(await winner?.answer()).toBe("closed");
      }
    } finally {
      for (const r of racers) r.stop();
    }
  });

  it("takes over a takeover claim whose claimer died before finishing, and leaves no claim behind", async () => {
    const path = tempFile();
    const dead = deadPid();
    writeFileSync(`${path}.lock`, String(dead));
    // What a claimer that died between claiming the dead lock and replacing it leaves.
    writeFileSync(`${path}.lock.${statSync(`${path}.lock`, { bigint: true }).ino}.takeover`, String(deadPid()));
    const outbox = await openFileOutbox(path);
    expect(readdirSync(join(path, ".."))).toEqual(["outbox.json.lock"]);
    await expect(openFileOutbox(path)).rejects.toThrow(/is open in this process/);
    await outbox.close();
  });
});

describe("a lock holding this process's pid that no open of this process holds", () => {
  // What an earlier process with the same pid left: a container's app is the same pid every start.
  it("is taken over, as a dead process's lock is", async () => {
    const path = tempFile();
    writeFileSync(`${path}.lock`, String(process.pid));
    const outbox = await openFileOutbox(path);
    await expect(openFileOutbox(path)).rejects.toThrow(/is open in this process/);
    await outbox.close();
  });

  it("is taken over by exactly one of two opens racing for it in this process", async () => {
    for (let round = 0; round < 50; round++) {
      const path = tempFile();
      writeFileSync(`${path}.lock`, String(process.pid));
      const results = await Promise.allSettled([openFileOutbox(path), openFileOutbox(`./${relative(".", path)}`)]);
      const opened = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      expect(opened, `round ${round}`).toHaveLength(1);
      await opened[0]?.close();
    }
  });
});

describe("opening the file", () => {
  it("removes what processes that died using it left beside it, and keeps a live process's", async () => {
    const path = tempFile();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    const uuid = "0b6c3a8e-8d8f-4f0e-9a53-6a0f3b1c2d4e";
    const left = [
      `outbox.json.${dead}.tmp`,
      `outbox.json.lock.${dead}.${uuid}.tmp`,
      `outbox.json.lock.${dead}.${uuid}.tmp.${uuid}`,
      `outbox.json.${process.pid}.tmp`,
      "outbox.json.lock.12345.takeover",
    ];
    for (const name of left) writeFileSync(join(path, "..", name), String(dead));
    // A live process's write under way, and a file of another name.
    const kept = [`outbox.json.${process.ppid}.tmp`, "outbox.json.bak"];
    for (const name of kept) writeFileSync(join(path, "..", name), "x");

    const outbox = await openFileOutbox(path);
    expect(readdirSync(join(path, "..")).sort()).toEqual([...kept, "outbox.json.lock"].sort());
    await outbox.close();
  });
});

/** A child process running outbox-racer.ts: `say` sends it a line, `answer` awaits its next one. */
function startRacer(): { say(line: string): void; answer(): Promise<string>; stop(): void } {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "outbox-racer.ts")],
    { stdio: "pipe" },
  );
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  const arrived: string[] = [];
  lines.on("line", (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else arrived.push(line);
  });
  return {
    say: (line) => child.stdin.write(`${line}\n`),
    answer: () => {
      const line = arrived.shift();
      return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiting.push(resolve));
    },
    stop: () => child.stdin.end(),
  };
}
