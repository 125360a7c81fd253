// Specifications of the entity's command sequence (src/core/entity/command-host.ts), which the
// Durable Object and the simulator both run: what is refused before any work, what a client
// session and an idempotency key are answered, what one command writes and in which order its
// effects leave. The ports here are plain in-memory storage, as the simulator's.
import { describe, expect, it } from "vitest";
import {
  entityCommand,
  EntityCommands,
  type EntityCommandPorts,
  type RecordedFacts,
} from "../../src/core/entity/command-host.js";
import { IDEMPOTENCY_RETENTION_MS } from "../../src/core/entity/idempotency.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { CommandEnvelope, CommandOutcome } from "../../src/core/protocol/entity-protocol.js";
import { HLC_ZERO } from "../../src/core/protocol/hlc.js";
import { METADATA_BOUNDS } from "../../src/core/protocol/command-metadata.js";
import { inventory } from "../../src/domain/inventory.js";
import { MapIdempotencyRecords, MapSessionRecords } from "../../src/simulation/entity-records.js";

const NOW = 1_767_225_600_000;
const ADDRESS = { tenant: "t", entityType: "inventory", entityId: "s1" } as const;

/** An entity's durable storage in memory, and every effect in the order it happened. */
class Storage {
  readonly log: RecordedEvent[] = [];
  readonly snapshots = new Map<number, unknown>();
  readonly idempotency = new MapIdempotencyRecords();
  readonly sessions = new MapSessionRecords();
  readonly effects: string[] = [];
  backlog = 0;
  /** Makes the next transaction fail after its writes (its events are then undone, as SQLite does). */
  failNextTransaction = false;
}

/** A command host over `storage`, as a freshly woken object builds it (image from the log). */
function host(storage: Storage): EntityCommands {
  let ids = 0;
  let commands: EntityCommands | undefined;
  const ports: EntityCommandPorts = {
    storage: {
      transaction: (writes) => {
        const head = storage.log.length;
        storage.effects.push("begin");
        writes();
        if (storage.failNextTransaction) {
          storage.failNextTransaction = false;
          storage.log.length = head;
          throw new Error("disk full");
        }
        storage.effects.push("commit");
      },
      storeIdentity: () => storage.effects.push("identity"),
      append: (events) => {
        storage.effects.push("append");
        storage.log.push(...events);
      },
      writeSnapshot: (seq, state) => storage.snapshots.set(seq, state),
      read: (after, upTo) => storage.log.slice(after, upTo),
      idempotency: storage.idempotency,
      sessions: storage.sessions,
    },
    relay: {
      backlog: () => storage.backlog,
      retryAfterSeconds: () => 7,
      // The relay's outbox is the log up to the image's version: it must be current by now.
      committed: (facts: RecordedFacts) => storage.effects.push(`relay ${facts.length} at v${commands?.image.version}`),
      handOff: (facts: RecordedFacts) => {
        storage.effects.push(`hand off ${facts.length} at v${commands?.image.version}`);
        const first = facts[0];
        return first && { fromSeq: first.event.seq, messages: facts.map((f) => f.message) };
      },
    },
    published: (recorded) => storage.effects.push(`publish ${recorded.length}`),
    newEventId: () => `e${storage.log.length + ++ids}`,
    maxBacklog: 10,
  };
  const state = inventory.fold(storage.log);
  commands = new EntityCommands(inventory, ADDRESS, { state, version: storage.log.length, hlc: HLC_ZERO }, ports);
  return commands;
}

const restock = (over: Partial<CommandEnvelope> = {}): CommandEnvelope => ({
  ...ADDRESS,
  command: "restock",
  data: { quantity: 5, source: "manual" },
  idempotencyKey: null,
  fingerprint: null,
  expectedVersion: null,
  causeHlc: null,
  correlationId: "c",
  causationId: null,
  traceparent: null,
  ...over,
});
const inSession = (seq: number, quantity = 5): CommandEnvelope =>
  restock({
    data: { quantity, source: "manual" },
    clientSession: { session: "offline-client-0001", seq },
    fingerprint: `restock:${quantity}`,
  });
const ship = (over: Partial<CommandEnvelope> = {}): CommandEnvelope =>
  restock({ command: "ship", data: { orderId: "o-1" }, ...over });

const problemOf = (outcome: CommandOutcome): string | undefined =>
  outcome.ok ? undefined : outcome.problem.type.slice(outcome.problem.type.lastIndexOf("/") + 1);
const eventIds = (outcome: CommandOutcome): string[] =>
  outcome.ok ? outcome.result.events.map((e) => e.meta.eventId) : [];

describe("entity command sequence", () => {
  it("writes the events in one transaction, then updates the image, hands the facts to the relay and publishes them", () => {
    const storage = new Storage();
    const commands = host(storage);
    const outcome = commands.command(restock(), NOW);
    expect(outcome.ok && outcome.result.version).toBe(1);
    expect(storage.effects).toEqual(["begin", "identity", "append", "commit", "relay 1 at v1", "publish 1"]);
    expect(commands.image.version).toBe(1);
  });

  it("hands the facts to a caller that relays them, in its outcome, instead of to the relay's own send", () => {
    const storage = new Storage();
    const commands = host(storage);
    const outcome = commands.command(restock({ callerRelays: true }), NOW);
    expect(storage.effects).toEqual(["begin", "identity", "append", "commit", "hand off 1 at v1", "publish 1"]);
    expect(outcome.ok && outcome.handOff?.fromSeq).toBe(1);
    expect(outcome.ok && outcome.handOff?.messages.map((m) => m.body)).toEqual([
      expect.objectContaining({ entityid: ADDRESS.entityId, seq: 1 }),
    ]);
  });

  it("hands nothing to the caller of a replayed command", () => {
    const storage = new Storage();
    const commands = host(storage);
    const keyed = restock({ callerRelays: true, idempotencyKey: "k1", fingerprint: "f1" });
    commands.command(keyed, NOW);
    const again = commands.command(keyed, NOW);
    expect(again.ok && again.replayed).toBe(true);
    expect(again.ok && again.handOff).toBeUndefined();
  });

  it("lets nothing leave, and keeps its image, when the transaction fails", () => {
    const storage = new Storage();
    const commands = host(storage);
    storage.failNextTransaction = true;
    expect(() => commands.command(restock(), NOW)).toThrow("disk full");
    expect(storage.effects).toEqual(["begin", "identity", "append"]);
    expect(storage.log).toHaveLength(0);
    expect(commands.image.version).toBe(0);
  });

  it("sheds a command that waited past the queue delay before binding or reading anything", () => {
    let bound = false;
    const outcome = entityCommand(restock({ sentAt: NOW - 501 }), NOW, 500, () => {
      bound = true;
      return undefined;
    });
    expect(problemOf(outcome)).toBe("overloaded");
    expect(!outcome.ok && outcome.problem.retryAfter).toBe(1);
    expect(bound).toBe(false);
  });

  it("decides a command that waited exactly the queue delay", () => {
    const storage = new Storage();
    const outcome = entityCommand(restock({ sentAt: NOW - 500 }), NOW, 500, () => host(storage));
    expect(outcome.ok).toBe(true);
  });

  it("refuses an entity id outside the URL grammar before binding", () => {
    const outcome = entityCommand(restock({ entityId: "a b" }), NOW, 500, () => {
      throw new Error("bound");
    });
    expect(problemOf(outcome)).toBe("malformed-request");
  });

  it("answers 404 for an entity type the app does not define", () => {
    expect(problemOf(entityCommand(restock(), NOW, 500, () => undefined))).toBe("not-found");
  });

  it("records a correlation id and a causation id at their bounds whole", () => {
    const correlationId = "c".repeat(METADATA_BOUNDS.correlationId);
    const causationId = "k".repeat(METADATA_BOUNDS.causationId);
    const outcome = host(new Storage()).command(restock({ correlationId, causationId }), NOW);
    expect(outcome.ok && outcome.result.events[0]?.meta).toMatchObject({ correlationId, causationId });
  });

  it("refuses a causation id over its bound as the API does, naming the header, and records nothing", () => {
    const storage = new Storage();
    const outcome = host(storage).command(restock({ causationId: "k".repeat(METADATA_BOUNDS.causationId + 1) }), NOW);
    expect(problemOf(outcome)).toBe("malformed-request");
    expect(!outcome.ok && outcome.problem.errors?.[0]?.path).toBe("Factline-Causation-Id");
    expect(storage.effects).toEqual([]);
  });

  it("answers a session command sent again with its first answer, recording nothing", () => {
    const storage = new Storage();
    const commands = host(storage);
    const first = commands.command(inSession(1), NOW);
    const again = commands.command(inSession(1), NOW + 1_000);
    expect(again.ok && again.replayed).toBe(true);
    expect(eventIds(again)).toEqual(eventIds(first));
    expect(storage.log).toHaveLength(1);
  });

  it("answers a session command sent again after a wake-up from storage alone", () => {
    const storage = new Storage();
    const first = host(storage).command(inSession(1), NOW);
    const again = host(storage).command(inSession(1), NOW + 1_000);
    expect(eventIds(again)).toEqual(eventIds(first));
    expect(storage.log).toHaveLength(1);
  });

  it("refuses a session number below the last one decided, and the last one with another body", () => {
    const storage = new Storage();
    const commands = host(storage);
    commands.command(inSession(1), NOW);
    commands.command(inSession(3), NOW);
    expect(problemOf(commands.command(inSession(2), NOW))).toBe("client-command-answered");
    expect(problemOf(commands.command(inSession(3, 6), NOW))).toBe("client-sequence-reused");
    expect(storage.log).toHaveLength(2);
  });

  it("keeps the domain's rejection of a session command as its answer", () => {
    const storage = new Storage();
    const commands = host(storage);
    const session = { clientSession: { session: "offline-client-0001", seq: 1 }, fingerprint: "ship" };
    expect(problemOf(commands.command(ship(session), NOW))).toBe("business-rule");
    commands.command(restock(), NOW);
    expect(problemOf(commands.command(ship(session), NOW))).toBe("business-rule");
    expect(storage.sessions.get("offline-client-0001")?.answer.kind).toBe("rejected");
  });

  it("leaves a session number shed for a full backlog free to be decided when retried", () => {
    const storage = new Storage();
    const commands = host(storage);
    storage.backlog = 10;
    const shed = commands.command(inSession(1), NOW);
    expect(problemOf(shed)).toBe("backlog-full");
    expect(!shed.ok && shed.problem.retryAfter).toBe(7);
    storage.backlog = 0;
    const retried = commands.command(inSession(1), NOW);
    expect(retried.ok && !retried.replayed).toBe(true);
  });

  it("replays a command under a known Idempotency-Key and decides it again once the key expired", () => {
    const storage = new Storage();
    const commands = host(storage);
    const keyed = restock({ idempotencyKey: "k-1", fingerprint: "restock:5" });
    const first = commands.command(keyed, NOW);
    const replay = commands.command(keyed, NOW + IDEMPOTENCY_RETENTION_MS);
    expect(replay.ok && replay.replayed).toBe(true);
    expect(eventIds(replay)).toEqual(eventIds(first));
    const expired = commands.command(keyed, NOW + IDEMPOTENCY_RETENTION_MS + 1);
    expect(expired.ok && !expired.replayed).toBe(true);
    expect(storage.log).toHaveLength(2);
  });

  it("writes a snapshot when the new version crosses a multiple of snapshotEvery", () => {
    const storage = new Storage();
    const commands = host(storage);
    for (let i = 0; i < inventory.snapshotEvery; i++) commands.command(restock(), NOW);
    expect([...storage.snapshots.keys()]).toEqual([inventory.snapshotEvery]);
  });
});
