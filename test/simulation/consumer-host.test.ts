// The shared queue consumer (src/core/consumer/consumer-host.ts), driven through fake ports built
// here: a toy D1 whose statements are functions over plain tables, run all or nothing; entity logs
// and sagas as lists. Each spec states one rule of the batch sequence that production's queue
// handler and the simulator both run.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type ConsumerMessage,
  type DecodedMessage,
  FactConsumer,
  type FactConsumerPorts,
  type Generations,
  NO_GENERATIONS,
  PARKED_RETRY_SECONDS,
} from "../../src/core/consumer/consumer-host.js";
import { CONSUMER_MAX_ATTEMPTS, type ConsumerMutations } from "../../src/core/consumer/entity-plan.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { EntityAddress } from "../../src/core/protocol/entity-protocol.js";

/** The toy D1's tables: checkpoints and views per `projection|generation|entityId`, the rest per entity id. */
interface Tables {
  generations: Map<string, Generations>;
  checkpoints: Map<string, number>;
  /** The seqs applied to each view row, in order. */
  views: Map<string, number[]>;
  heads: Map<string, number>;
  sagaCheckpoints: Map<string, number>;
}

type Stmt = (t: Tables) => void;

/** What a fake message ended as. */
type Outcome = { kind: "ack" } | { kind: "retry"; delaySeconds: number };

interface FakeMessage extends ConsumerMessage {
  readonly body: { readonly fact: RecordedEvent } | { readonly parked: number; readonly entityId: string } | "garbage";
  outcome: Outcome | null;
}

function message(body: FakeMessage["body"], attempts = 1): FakeMessage {
  const m: FakeMessage = {
    body,
    attempts,
    outcome: null,
    ack: () => {
      m.outcome = { kind: "ack" };
    },
    retry: (delaySeconds) => {
      m.outcome = { kind: "retry", delaySeconds };
    },
  };
  return m;
}

function fact(entityId: string, seq: number, type = "restocked"): RecordedEvent {
  return {
    seq,
    type,
    data: {},
    schemaVersion: 1,
    meta: {
      eventId: `${entityId}-${seq}`,
      tenant: "t1",
      entityType: "stock",
      entityId,
      hlc: `${seq}`,
      recordedAt: new Date(1_000 * seq).toISOString(),
      correlationId: "c",
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
}

/** A log of `length` facts for one entity. */
function log(entityId: string, length: number, type = "restocked"): RecordedEvent[] {
  return Array.from({ length }, (_, i) => fact(entityId, i + 1, type));
}

function copy(t: Tables): Tables {
  return {
    generations: new Map(t.generations),
    checkpoints: new Map(t.checkpoints),
    views: new Map([...t.views].map(([k, v]) => [k, [...v]])),
    heads: new Map(t.heads),
    sagaCheckpoints: new Map(t.sagaCheckpoints),
  };
}

/** The fake world: projection "stock" (and any others named) following entity type "stock", entity logs, sagas that want "started" facts. */
class Fakes {
  tables: Tables = {
    generations: new Map(),
    checkpoints: new Map(),
    views: new Map(),
    heads: new Map(),
    sagaCheckpoints: new Map(),
  };
  readonly logs = new Map<string, RecordedEvent[]>();
  readonly batches: Stmt[][] = [];
  readonly deadLetters: { body: FakeMessage["body"]; projection: string | null; error: string }[] = [];
  /** What the consumer logged of each failed entity. */
  readonly failures: { entityId: string; error: string }[] = [];
  readonly sagaDeliveries: number[][] = [];
  readonly acknowledged: { entityId: string; seq: number }[] = [];
  readonly reads: { entityId: string; after: number; upTo: number }[] = [];
  hasSagas = false;
  /** Fails every batch that holds a statement for this entity (a poison row), or none. */
  poisoned: string | null = null;
  /** Fails the next N saga deliveries. */
  sagaFailures = 0;
  /** The 1-based numbers of the D1 batches to refuse (counting every batch the consumer sends). */
  readonly refusedBatches = new Set<number>();
  /** The projections following entity type "stock". */
  projections = ["stock"];
  /** This projection's handler throws for facts of this type (a handler bug), or no handler throws. */
  handlerBug: { readonly projection: string; readonly factType: string } | null = null;
  /** Planning this entity's facts fails (the consumer.apply fault point). */
  unplannable: string | null = null;
  /** Runs between the consumer's reads and its write (a rebuild starting, say); once, unless it returns true. */
  beforeWrite: (() => boolean | undefined) | null = null;

  view(entityId: string, generation = 0, projection = "stock"): number[] | undefined {
    return this.tables.views.get(`${projection}|${generation}|${entityId}`);
  }

  ports(): FactConsumerPorts<FakeMessage, Stmt, { readonly entityId: string; readonly seq: number }> {
    return {
      decode: (m): DecodedMessage<{ entityId: string; seq: number }> => {
        if (m.body === "garbage") return { kind: "invalid", error: "not a fact" };
        if ("parked" in m.body) return { kind: "parked", notice: { entityId: m.body.entityId, seq: m.body.parked } };
        return { kind: "fact", event: m.body.fact };
      },
      fetchParked: async ({ entityId, seq }) => {
        const event = this.logs.get(entityId)?.[seq - 1];
        if (!event) throw new Error("entity unreachable");
        return event;
      },
      followers: (entityType) => (entityType === "stock" ? this.projections : []),
      hasSagas: this.hasSagas,
      concernsSagas: (facts) => facts.some((f) => f.type === "started"),
      readGenerations: async (pairs) => {
        const read = new Map(pairs.map((p) => [p.projection, this.tables.generations.get(p.projection)]));
        return (p) => read.get(p.projection) ?? NO_GENERATIONS;
      },
      readProgress: async (keys, addresses) => {
        const applied = new Map(
          keys.map((k) => [
            `${k.projection}|${k.generation}|${k.entityId}`,
            this.tables.checkpoints.get(`${k.projection}|${k.generation}|${k.entityId}`) ?? 0,
          ]),
        );
        const delivered = new Map(addresses.map((a) => [a.entityId, this.tables.sagaCheckpoints.get(a.entityId) ?? 0]));
        return {
          applied: (k) => applied.get(`${k.projection}|${k.generation}|${k.entityId}`) ?? 0,
          delivered: (a) => delivered.get(a.entityId) ?? 0,
        };
      },
      apply: (key, from, events) => {
        const bug = this.handlerBug;
        if (bug?.projection === key.projection && events.some((e) => e.type === bug.factType))
          throw new Error(`no handler can read ${bug.factType}`);
        return [
          (t) => {
            const row = `${key.projection}|${key.generation}|${key.entityId}`;
            if (this.poisoned === key.entityId) throw new Error(`poison row ${key.entityId}`);
            if ((t.checkpoints.get(row) ?? 0) !== from) throw new Error(`checkpoint ${row} moved`);
            t.checkpoints.set(row, events[events.length - 1]?.seq ?? from);
            t.views.set(row, [...(t.views.get(row) ?? []), ...events.map((e) => e.seq)]);
          },
        ];
      },
      generationsGuard: (reads) => (t) => {
        for (const r of reads) {
          const now = t.generations.get(r.projection) ?? NO_GENERATIONS;
          if (now.active !== r.gens.active || now.building !== r.gens.building) throw new Error("generations moved");
        }
      },
      recordHeads: (heads) => (t) => {
        for (const h of heads) t.heads.set(h.entityId, Math.max(t.heads.get(h.entityId) ?? 0, h.seq));
      },
      advanceSagaCheckpoints: (delivered) => (t) => {
        for (const d of delivered)
          t.sagaCheckpoints.set(d.address.entityId, Math.max(t.sagaCheckpoints.get(d.address.entityId) ?? 0, d.seq));
      },
      batch: async (statements) => {
        this.batches.push([...statements]);
        if (this.refusedBatches.has(this.batches.length)) throw new Error("D1 unavailable");
        const next = copy(this.tables);
        for (const s of statements) s(next);
        this.tables = next;
      },
      readEntity: async (address: EntityAddress, after, upTo) => {
        this.reads.push({ entityId: address.entityId, after, upTo });
        return (this.logs.get(address.entityId) ?? []).filter((e) => e.seq > after && e.seq <= upTo);
      },
      deliverToSagas: async (facts) => {
        if (this.sagaFailures > 0) {
          this.sagaFailures--;
          throw new Error("saga unavailable");
        }
        this.sagaDeliveries.push(facts.map((f) => f.seq));
      },
      acknowledge: async (address, seq) => {
        this.acknowledged.push({ entityId: address.entityId, seq });
      },
      recordDeadLetter: async (m, error, projection) => {
        this.deadLetters.push({ body: m.body, projection, error });
      },
      fault: (point, address) => {
        if (point === "consumer.apply" && address?.entityId === this.unplannable) throw new Error("planning failed");
      },
      pauseBeforeWrite: () => {
        const hook = this.beforeWrite;
        this.beforeWrite = null;
        if (hook?.() === true) this.beforeWrite = hook;
        return undefined;
      },
      applied: () => undefined,
      failed: (address, error) => {
        this.failures.push({ entityId: address.entityId, error });
      },
      afterBatch: async () => undefined,
      now: () => 0,
    };
  }

  consume(messages: readonly FakeMessage[], mutations: ConsumerMutations = {}): Promise<void> {
    return new FactConsumer(this.ports(), mutations).consume(messages);
  }
}

const carrying = (e: RecordedEvent, attempts = 1) => message({ fact: e }, attempts);
/** A retry, whatever its jittered delay. */
const retried = { kind: "retry", delaySeconds: expect.any(Number) };

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the shared queue consumer", () => {
  it("applies two entities' facts in one D1 batch, acks every message and acknowledges each entity's newest fact", async () => {
    const w = new Fakes();
    const [a1, a2] = log("a", 2);
    const [b1] = log("b", 1);
    const messages = [a1, a2, b1].map((e) => carrying(e as RecordedEvent));
    await w.consume(messages);
    expect(w.batches).toHaveLength(1);
    expect(w.view("a")).toEqual([1, 2]);
    expect(w.view("b")).toEqual([1]);
    expect(messages.map((m) => m.outcome)).toEqual([{ kind: "ack" }, { kind: "ack" }, { kind: "ack" }]);
    expect(w.acknowledged).toEqual([
      { entityId: "a", seq: 2 },
      { entityId: "b", seq: 1 },
    ]);
    expect(w.tables.heads.get("a")).toBe(2);
  });

  it("skips a fact its checkpoint says is applied, and still acks it", async () => {
    const w = new Fakes();
    const [a1] = log("a", 1) as [RecordedEvent];
    await w.consume([carrying(a1)]);
    const again = carrying(a1);
    await w.consume([again]);
    expect(w.view("a")).toEqual([1]);
    expect(again.outcome).toEqual({ kind: "ack" });
  });

  it("repairs a gap by reading the missing facts from the entity's log before applying", async () => {
    const w = new Fakes();
    w.logs.set("a", log("a", 3));
    const third = carrying(w.logs.get("a")?.[2] as RecordedEvent);
    await w.consume([third]);
    expect(w.reads).toEqual([{ entityId: "a", after: 0, upTo: 3 }]);
    expect(w.view("a")).toEqual([1, 2, 3]);
    expect(third.outcome).toEqual({ kind: "ack" });
  });

  it("retries with growing delay an entity whose log comes back short, and applies the others", async () => {
    const w = new Fakes();
    w.logs.set("a", log("a", 1));
    const gapped = carrying(fact("a", 3));
    const other = carrying(fact("b", 1));
    await w.consume([gapped, other]);
    expect(w.view("a")).toBeUndefined();
    expect(w.view("b")).toEqual([1]);
    expect(other.outcome).toEqual({ kind: "ack" });
    expect(gapped.outcome).toEqual(retried);
  });

  it("retries a failed entity's messages with a delay that grows with their attempts", async () => {
    // The backoff's full jitter at its top, so the delay is its bound: 2^attempts seconds.
    vi.spyOn(Math, "random").mockReturnValue(0.999);
    const w = new Fakes();
    const first = carrying(fact("a", 3), 1);
    const third = carrying(fact("b", 3), 3);
    await w.consume([first, third]);
    expect(first.outcome).toEqual({ kind: "retry", delaySeconds: 2 });
    expect(third.outcome).toEqual({ kind: "retry", delaySeconds: 8 });
  });

  it("records a dead letter with the error on the last attempt, and acks the message", async () => {
    const w = new Fakes();
    const last = carrying(fact("a", 3), CONSUMER_MAX_ATTEMPTS);
    await w.consume([last]);
    expect(last.outcome).toEqual({ kind: "ack" });
    expect(w.deadLetters).toEqual([
      { body: { fact: fact("a", 3) }, projection: null, error: "entity log is missing facts 1..3" },
    ]);
  });

  it("records a dead letter naming the projection whose handler threw for the fact, with the name in its error", async () => {
    const w = new Fakes();
    w.handlerBug = { projection: "stock", factType: "renamed" };
    const last = carrying(fact("a", 1, "renamed"), CONSUMER_MAX_ATTEMPTS);
    await w.consume([last]);
    expect(last.outcome).toEqual({ kind: "ack" });
    expect(w.deadLetters).toEqual([
      {
        body: { fact: fact("a", 1, "renamed") },
        projection: "stock",
        error: "projection stock: no handler can read renamed",
      },
    ]);
  });

  it("logs a projection handler's throw under the projection's name, and retries the fact", async () => {
    const w = new Fakes();
    w.handlerBug = { projection: "stock", factType: "renamed" };
    const first = carrying(fact("a", 1, "renamed"));
    await w.consume([first]);
    expect(first.outcome).toEqual(retried);
    expect(w.failures).toEqual([{ entityId: "a", error: "projection stock: no handler can read renamed" }]);
    expect(w.deadLetters).toEqual([]);
  });

  it("holds back every projection of an entity while one projection's handler throws for its fact", async () => {
    const w = new Fakes();
    w.projections = ["stock", "ledger"];
    w.handlerBug = { projection: "ledger", factType: "renamed" };
    const last = carrying(fact("a", 1, "renamed"), CONSUMER_MAX_ATTEMPTS);
    await w.consume([last]);
    expect(w.view("a", 0, "stock")).toBeUndefined();
    expect(w.deadLetters.map((d) => d.projection)).toEqual(["ledger"]);
  });

  it("keeps holding an entity back after its fact a handler throws for is dead-lettered: the next fact repairs the gap and meets it again", async () => {
    const w = new Fakes();
    w.handlerBug = { projection: "stock", factType: "renamed" };
    w.logs.set("a", [fact("a", 1, "renamed"), fact("a", 2)]);
    await w.consume([carrying(fact("a", 1, "renamed"), CONSUMER_MAX_ATTEMPTS)]);
    const next = carrying(fact("a", 2));
    await w.consume([next]);
    expect(w.reads).toEqual([{ entityId: "a", after: 0, upTo: 2 }]);
    expect(w.view("a")).toBeUndefined();
    expect(next.outcome).toEqual(retried);
  });

  it("applies the other entities of a batch when a projection's handler throws for one entity's fact", async () => {
    const w = new Fakes();
    w.handlerBug = { projection: "stock", factType: "renamed" };
    const broken = carrying(fact("a", 1, "renamed"));
    const healthy = carrying(fact("b", 1));
    await w.consume([broken, healthy]);
    expect(w.view("b")).toEqual([1]);
    expect(healthy.outcome).toEqual({ kind: "ack" });
    expect(w.view("a")).toBeUndefined();
    expect(broken.outcome).toEqual(retried);
  });

  it("dead-letters a message that is no fact at once, whatever its attempt", async () => {
    const w = new Fakes();
    const garbage = message("garbage");
    await w.consume([garbage]);
    expect(garbage.outcome).toEqual({ kind: "ack" });
    expect(w.deadLetters).toEqual([{ body: "garbage", projection: null, error: "not a fact" }]);
    expect(w.batches).toEqual([]);
  });

  it("applies a parked fact read from its entity in place of its notice", async () => {
    const w = new Fakes();
    w.logs.set("a", log("a", 1));
    const notice = message({ parked: 1, entityId: "a" });
    await w.consume([notice]);
    expect(w.view("a")).toEqual([1]);
    expect(notice.outcome).toEqual({ kind: "ack" });
  });

  it("retries a parked fact's notice after a short delay while its entity cannot be read", async () => {
    const w = new Fakes();
    const notice = message({ parked: 1, entityId: "a" });
    await w.consume([notice]);
    expect(notice.outcome).toEqual({ kind: "retry", delaySeconds: PARKED_RETRY_SECONDS });
    expect(w.batches).toEqual([]);
  });

  it("writes entity by entity when the whole batch fails, so one entity's failure holds back no other", async () => {
    const w = new Fakes();
    w.poisoned = "a";
    const poisoned = carrying(fact("a", 1));
    const healthy = carrying(fact("b", 1));
    const batched = w.batches;
    await w.consume([poisoned, healthy]);
    expect(w.view("b")).toEqual([1]);
    expect(healthy.outcome).toEqual({ kind: "ack" });
    expect(poisoned.outcome).toEqual(retried);
    // The head of the failed entity is still recorded (a batch of its own).
    expect(w.tables.heads.get("a")).toBe(1);
    expect(batched.length).toBeGreaterThanOrEqual(3);
    expect(w.acknowledged).toEqual([{ entityId: "b", seq: 1 }]);
  });

  it("plans once more when a rebuild started between its reads and its write, reaching the new generation too", async () => {
    const w = new Fakes();
    w.beforeWrite = () => {
      w.tables.generations.set("stock", { active: 0, building: 1 });
      return undefined;
    };
    const m = carrying(fact("a", 1));
    await w.consume([m]);
    expect(w.view("a", 0)).toEqual([1]);
    expect(w.view("a", 1)).toEqual([1]);
    expect(m.outcome).toEqual({ kind: "ack" });
  });

  it("plans again from a checkpoint another delivery moved between its reads and its write, instead of retrying through the queue", async () => {
    const w = new Fakes();
    const [a1, a2] = log("a", 2) as [RecordedEvent, RecordedEvent];
    // A concurrent delivery carrying fact 1 writes first.
    w.beforeWrite = () => {
      w.tables.checkpoints.set("stock|0|a", 1);
      w.tables.views.set("stock|0|a", [1]);
      return undefined;
    };
    const messages = [carrying(a1), carrying(a2)];
    await w.consume(messages);
    expect(w.view("a")).toEqual([1, 2]);
    expect(messages.map((m) => m.outcome)).toEqual([{ kind: "ack" }, { kind: "ack" }]);
    expect(w.acknowledged).toEqual([{ entityId: "a", seq: 2 }]);
  });

  it("retries through the queue an entity whose checkpoint concurrent deliveries keep moving past its planning rounds", async () => {
    const w = new Fakes();
    w.logs.set("a", log("a", 9));
    // Before every write another delivery applies the entity's next fact.
    w.beforeWrite = () => {
      const seq = (w.tables.checkpoints.get("stock|0|a") ?? 0) + 1;
      w.tables.checkpoints.set("stock|0|a", seq);
      w.tables.views.set("stock|0|a", [...(w.view("a") ?? []), seq]);
      return true;
    };
    const ninth = carrying(w.logs.get("a")?.[8] as RecordedEvent);
    await w.consume([ninth]);
    expect(ninth.outcome).toEqual(retried);
    // Three planning rounds, each refused, then the entity's own write from the last round's reads:
    // the view holds only the other writer's facts.
    expect(w.view("a")).toEqual([1, 2, 3]);
  });

  it("leaves a gap in the generation a rebuild fills to the rebuilder, and still applies the active one", async () => {
    const w = new Fakes();
    w.logs.set("a", log("a", 2));
    await w.consume([carrying(w.logs.get("a")?.[0] as RecordedEvent)]);
    w.tables.generations.set("stock", { active: 0, building: 1 });
    const second = carrying(w.logs.get("a")?.[1] as RecordedEvent);
    await w.consume([second]);
    expect(w.view("a", 0)).toEqual([1, 2]);
    expect(w.view("a", 1)).toBeUndefined();
    expect(w.reads).toEqual([]);
    expect(second.outcome).toEqual({ kind: "ack" });
  });

  it("hands the sagas every fact after their own checkpoint, repairing what the batch lacks, then advances it", async () => {
    const w = new Fakes();
    w.hasSagas = true;
    w.logs.set("a", log("a", 3, "started"));
    // The projections already have facts 1 and 2; the sagas never got them.
    await w.ports().batch([
      (t) => {
        t.checkpoints.set("stock|0|a", 2);
        t.views.set("stock|0|a", [1, 2]);
      },
    ]);
    const third = carrying(w.logs.get("a")?.[2] as RecordedEvent);
    await w.consume([third]);
    expect(w.sagaDeliveries).toEqual([[1, 2, 3]]);
    expect(w.tables.sagaCheckpoints.get("a")).toBe(3);
    expect(w.view("a")).toEqual([1, 2, 3]);
    expect(third.outcome).toEqual({ kind: "ack" });
  });

  it("hands the sagas only the batch's own facts under the F5 mutant", async () => {
    const w = new Fakes();
    w.hasSagas = true;
    w.logs.set("a", log("a", 3, "started"));
    await w.ports().batch([(t) => t.checkpoints.set("stock|0|a", 2)]);
    await w.consume([carrying(w.logs.get("a")?.[2] as RecordedEvent)], { sagasSkipGapRepair: true });
    expect(w.sagaDeliveries).toEqual([[3]]);
    expect(w.tables.sagaCheckpoints.get("a")).toBe(3);
  });

  it("advances the sagas' checkpoint within the projections' batch for facts no saga follows", async () => {
    const w = new Fakes();
    w.hasSagas = true;
    await w.consume([carrying(fact("a", 1))]);
    expect(w.batches).toHaveLength(1);
    expect(w.sagaDeliveries).toEqual([]);
    expect(w.tables.sagaCheckpoints.get("a")).toBe(1);
  });

  it("retries an entity whose saga delivery failed while its projections stay applied, and hands the sagas the facts on the retry", async () => {
    const w = new Fakes();
    w.hasSagas = true;
    w.sagaFailures = 1;
    const started = fact("a", 1, "started");
    const first = carrying(started);
    await w.consume([first]);
    expect(first.outcome).toEqual(retried);
    expect(w.view("a")).toEqual([1]);
    expect(w.tables.sagaCheckpoints.get("a")).toBeUndefined();
    expect(w.acknowledged).toEqual([]);

    const retry = carrying(started, 2);
    await w.consume([retry]);
    expect(w.view("a")).toEqual([1]);
    expect(w.sagaDeliveries).toEqual([[1]]);
    expect(w.tables.sagaCheckpoints.get("a")).toBe(1);
    expect(retry.outcome).toEqual({ kind: "ack" });
  });

  it("retries an entity whose planning failed, and writes the others in the one batch", async () => {
    const w = new Fakes();
    w.unplannable = "a";
    const failing = carrying(fact("a", 1));
    const healthy = carrying(fact("b", 1));
    await w.consume([failing, healthy]);
    expect(failing.outcome).toEqual(retried);
    expect(healthy.outcome).toEqual({ kind: "ack" });
    expect(w.view("a")).toBeUndefined();
    expect(w.view("b")).toEqual([1]);
    // The projections' batch, then the failed entity's head on its own.
    expect(w.batches).toHaveLength(2);
    expect(w.tables.heads.get("a")).toBe(1);
  });

  it("retries an entity whose sagas' checkpoint could not be written after delivery, and hands the facts again on the retry", async () => {
    const w = new Fakes();
    w.hasSagas = true;
    // Batch 1 applies the projections; batch 2 would record the sagas' checkpoint.
    w.refusedBatches.add(2);
    const started = fact("a", 1, "started");
    const first = carrying(started);
    await w.consume([first]);
    expect(first.outcome).toEqual(retried);
    expect(w.sagaDeliveries).toEqual([[1]]);
    expect(w.tables.sagaCheckpoints.get("a")).toBeUndefined();

    const retry = carrying(started, 2);
    await w.consume([retry]);
    expect(w.sagaDeliveries).toEqual([[1], [1]]);
    expect(w.tables.sagaCheckpoints.get("a")).toBe(1);
    expect(retry.outcome).toEqual({ kind: "ack" });
  });
});
