// What the entity runtime does with a domain's mistakes, so that an entity's state never differs
// from what a restart reads back from its log: event data that is not plain JSON is refused, a
// state that is not plain JSON is never snapshotted, an initial state that is not is refused at
// definition, and events the definition cannot fold (an undeclared type, an evolve returning
// undefined, an upcaster that throws or returns undefined) answer 500 `state-unfoldable` instead
// of a state without them; a definition missing an upcaster is refused when it is defined. Small entities are
// defined here and hosted by the platform's own entity actor in real entity objects; a restart is
// an eviction, after which a new incarnation rebuilds its memory image from storage.
import {
  createExecutionContext,
  createMessageBatch,
  evictDurableObject,
  getQueueResult,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { z } from "zod";
import { consumeFacts } from "../cloud/consumer/fact-consumer.js";
import { createEntityActor, type EntityActor } from "../edge/entity/entity-actor.js";
import { EventLog } from "../edge/entity/event-log.js";
import { defineEntity, EntityRegistry, event } from "../src/core/model/entity.js";
import type { CommandEnvelope, EntityAddress } from "../src/core/protocol/entity-protocol.js";
import { toCloudEvent } from "../src/core/protocol/cloud-event.js";
import { encodeHlc } from "../src/core/protocol/hlc.js";
import { entityObjectName } from "../src/core/protocol/identifiers.js";
import { fact } from "../src/testing/facts.js";
import { scenario } from "../src/testing/given-when-then.js";

const PROBLEMS = "https://factline.dev/problems/";

/** The tester's repro: evolve tells a Date (1) from the string JSON turns it into (100). */
const stamps = defineEntity({
  type: "stamps",
  initialState: { count: 0 },
  commands: { stamp: z.object({ at: z.enum(["date", "text", "undefined"]) }).strict() },
  events: { Stamped: event<{ at: Date | string; kind?: string | undefined }>() },
  decide: (_state, command) => {
    const at = command.data.at;
    const data = at === "date" ? { at: new Date(0) } : at === "undefined" ? { at, kind: undefined } : { at };
    return [{ type: "Stamped", data }];
  },
  evolve: (state, e) => ({ count: state.count + (e.data.at instanceof Date ? 1 : 100) }),
});

/** A state that is not plain JSON: evolve builds a Date from the event's string. */
const clocks = defineEntity({
  type: "clocks",
  initialState: { since: null as Date | null, ticks: 0 },
  commands: { tick: z.object({ at: z.iso.datetime() }).strict() },
  events: { Ticked: event<{ at: string }>() },
  decide: (_state, command) => [{ type: "Ticked", data: { at: command.data.at } }],
  evolve: (state, e) => ({ since: state.since ?? new Date(e.data.at), ticks: state.ticks + 1 }),
  snapshotEvery: 2,
});

/** A forgotten case (evolve returns undefined for Dropped) and a made-up event type (Misfiled). */
const shelves = defineEntity({
  type: "shelves",
  initialState: { books: 0 },
  commands: { place: z.object({}).strict(), drop: z.object({}).strict(), misfile: z.object({}).strict() },
  events: { Placed: event<Record<string, never>>(), Dropped: event<Record<string, never>>() },
  decide: (_state, command) => {
    if (command.type === "place") return [{ type: "Placed", data: {} }];
    if (command.type === "drop") return [{ type: "Dropped", data: {} }];
    // What a JavaScript domain (or a cast) can do: an event type the entity does not declare.
    return [JSON.parse('{"type":"Misfiled","data":{}}') as { type: "Placed"; data: Record<string, never> }];
  },
  evolve: (state, e) => (e.type === "Placed" ? { books: state.books + 1 } : (undefined as unknown as typeof state)),
});

/** Event data JSON writes other than the runtime holds it, one kind per `shape`. */
const SHAPES = {
  "a null prototype": () => Object.assign(Object.create(null) as object, { at: 1 }),
  "a non-enumerable property": () => Object.defineProperty({}, "at", { value: 7, enumerable: false }),
  "a symbol key": () => ({ at: 1, [Symbol("tag")]: 2 }),
  "an array with a property besides its elements": () => ({ at: "abc".match(/b/) }),
  "a sparse array": () => ({ at: Object.assign(new Array<number>(3), { 0: 1, 2: 3 }) }),
} as const;
type Shape = keyof typeof SHAPES;

const odd = defineEntity({
  type: "odd",
  initialState: { seen: 0 },
  commands: { record: z.object({ shape: z.string() }).strict() },
  events: { Recorded: event<object>() },
  decide: (_state, command) => [{ type: "Recorded", data: SHAPES[command.data.shape as Shape]() }],
  evolve: (state) => ({ seen: state.seen + 1 }),
});

const Host = createEntityActor(new EntityRegistry([stamps, clocks, shelves, odd]));

/**
 * The test entity `type`/`id` of a tenant of its own, in a real entity object: `incarnation` runs
 * `work` against a new instance of the platform's entity actor over the object's storage (as the
 * runtime builds one on wake-up), `restart` evicts the object, so only its storage survives.
 */
function hosted(type: string, id = "e1") {
  const address: EntityAddress = {
    tenant: `mistakes-${crypto.randomUUID().slice(0, 8)}`,
    entityType: type,
    entityId: id,
  };
  const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(address.tenant, type, id)));
  const incarnation = <T>(work: (actor: EntityActor, state: DurableObjectState) => Promise<T>): Promise<T> =>
    runInDurableObject(stub, async (_platformActor, state) => {
      const actor = new Host(state, env);
      // Let its constructor's schema check and identity read finish first, as the runtime does.
      await state.blockConcurrencyWhile(async () => {});
      return work(actor, state);
    });
  const command = (name: string, data: unknown = {}): CommandEnvelope => ({
    ...address,
    command: name,
    data,
    idempotencyKey: null,
    fingerprint: null,
    expectedVersion: null,
    causeHlc: null,
    correlationId: "mistakes",
    causationId: null,
    traceparent: null,
  });
  return { address, command, incarnation, restart: () => evictDurableObject(stub) };
}

/** The console's error lines in this test (kept out of the report), as the structured entries they are. */
let errors: MockInstance<typeof console.error>;
beforeEach(() => {
  errors = vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

function errorLines(): Record<string, unknown>[] {
  return errors.mock.calls.flatMap(([line]) => {
    try {
      return [JSON.parse(String(line)) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

describe("event data that is not plain JSON", () => {
  it("refuses a command whose event data holds a Date (500, nothing recorded), so a restart gives the same state", async () => {
    const e = hosted("stamps");
    const outcomes = await e.incarnation(async (actor) => [
      await actor.command(e.command("stamp", { at: "text" })),
      await actor.command(e.command("stamp", { at: "date" })),
    ]);
    expect(outcomes[0]?.ok).toBe(true);
    expect(outcomes[1]).toEqual({
      ok: false,
      problem: expect.objectContaining({
        type: `${PROBLEMS}event-data-not-json`,
        status: 500,
        detail: expect.stringMatching(/^stamps e1: .*a Stamped event whose data is not plain JSON: data\.at is a Date/),
      }),
    });
    expect(errorLines()).toContainEqual(
      expect.objectContaining({ level: "error", entityType: "stamps", type: `${PROBLEMS}event-data-not-json` }),
    );

    await e.restart();
    const after = await e.incarnation((actor) => actor.read(e.address, null));
    expect(after).toMatchObject({ ok: true, view: { version: 1, state: { count: 100 } } });
  });

  it.each(Object.keys(SHAPES) as Shape[])(
    "refuses event data with %s, which JSON would not keep, and records nothing",
    async (shape) => {
      const e = hosted("odd");
      const outcome = await e.incarnation((actor) => actor.command(e.command("record", { shape })));
      expect(outcome).toMatchObject({ ok: false, problem: { type: `${PROBLEMS}event-data-not-json`, status: 500 } });
      expect(await e.incarnation((actor) => actor.read(e.address, null))).toBeNull();
    },
  );

  it("is refused by the given-when-then kit as by the runtime, so a unit test finds it first", () => {
    expect(() => scenario(stamps).given().when("stamp", { at: "date" })).toThrow(
      "stamp decided a Stamped event whose data is not plain JSON (data.at is a Date): the runtime refuses it",
    );
    expect(scenario(stamps).given().when("stamp", { at: "text" }).state).toEqual({ count: 100 });
  });

  it("refuses a command whose event data holds an undefined field, naming it", async () => {
    const e = hosted("stamps");
    const outcome = await e.incarnation((actor) => actor.command(e.command("stamp", { at: "undefined" })));
    expect(outcome).toMatchObject({
      ok: false,
      problem: { type: `${PROBLEMS}event-data-not-json`, detail: expect.stringContaining("data.kind is undefined") },
    });
    expect(await e.incarnation((actor) => actor.read(e.address, null))).toBeNull();
  });
});

describe("state that is not plain JSON", () => {
  it("refuses an initial state that is not plain JSON when the entity is defined", () => {
    expect(() =>
      defineEntity({
        type: "clocks",
        initialState: { since: new Date(0), ticks: 0 },
        commands: { tick: z.object({}).strict() },
        events: { Ticked: event<Record<string, never>>() },
        decide: () => [{ type: "Ticked", data: {} }],
        evolve: (state) => ({ ...state, ticks: state.ticks + 1 }),
      }),
    ).toThrow("clocks: initialState is not plain JSON: initialState.since is a Date");
  });

  it("writes no snapshot of a state that is not plain JSON and logs why, so a restart folds the log to the same state", async () => {
    const e = hosted("clocks");
    const snapshots = await e.incarnation(async (actor, state) => {
      for (const at of ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"])
        expect((await actor.command(e.command("tick", { at }))).ok).toBe(true);
      return state.storage.sql.exec("SELECT seq FROM snapshots").toArray().length;
    });
    expect(snapshots).toBe(0);
    expect(errorLines()).toContainEqual(
      expect.objectContaining({
        msg: "snapshot skipped: the state is not plain JSON",
        detail: "state.since is a Date",
      }),
    );

    await e.restart();
    const woken = await e.incarnation(async (actor) => {
      const view = await actor.read(e.address, null);
      const state = view?.ok ? (view.view.state as { since: unknown; ticks: number }) : null;
      return { sinceIsDate: state?.since instanceof Date, ticks: state?.ticks };
    });
    expect(woken).toEqual({ sinceIsDate: true, ticks: 2 });
  });
});

describe("events the definition cannot fold", () => {
  it("refuses a command whose event evolve returns undefined for, recording nothing", async () => {
    const e = hosted("shelves");
    const [placed, dropped, read] = await e.incarnation(async (actor) => [
      await actor.command(e.command("place")),
      await actor.command(e.command("drop")),
      await actor.read(e.address, null),
    ]);
    expect(placed?.ok).toBe(true);
    expect(dropped).toMatchObject({
      ok: false,
      problem: {
        type: `${PROBLEMS}state-unfoldable`,
        status: 500,
        detail: expect.stringContaining("evolve returned undefined for Dropped (seq 2)"),
      },
    });
    expect(read).toMatchObject({ ok: true, view: { version: 1, state: { books: 1 } } });
  });

  it("refuses a command deciding an event type the entity does not declare, recording nothing", async () => {
    const e = hosted("shelves");
    const outcome = await e.incarnation((actor) => actor.command(e.command("misfile")));
    expect(outcome).toMatchObject({
      ok: false,
      problem: {
        type: `${PROBLEMS}state-unfoldable`,
        detail: expect.stringContaining("Misfiled (seq 1) is not an event type of shelves"),
      },
    });
    expect(await e.incarnation((actor) => actor.read(e.address, null))).toBeNull();
  });

  it("answers reads and commands of a stored log evolve cannot fold with 500 state-unfoldable, and still serves the log", async () => {
    const e = hosted("shelves");
    await e.incarnation(async (actor, state) => {
      expect((await actor.command(e.command("place"))).ok).toBe(true);
      // A Dropped event, as a deployment whose evolve still handled it would have recorded it.
      const [placed] = [...new EventLog(state.storage.sql, shelves).read(0)];
      if (!placed) throw new Error("no event recorded");
      new EventLog(state.storage.sql, shelves).append([
        {
          ...placed,
          seq: 2,
          type: "Dropped",
          meta: { ...placed.meta, eventId: crypto.randomUUID(), hlc: encodeHlc({ wall: Date.now(), logical: 1 }) },
        },
      ]);
    });
    await e.restart();

    const { read, command, page, snapshots } = await e.incarnation(async (actor, state) => ({
      read: await actor.read(e.address, null),
      command: await actor.command(e.command("place")),
      page: await actor.events(e.address, 0, 10),
      snapshots: state.storage.sql.exec("SELECT seq FROM snapshots").toArray().length,
    }));
    const unfoldable = {
      type: `${PROBLEMS}state-unfoldable`,
      status: 500,
      detail: expect.stringContaining("evolve returned undefined for Dropped (seq 2)"),
    };
    expect(read).toEqual({ ok: false, problem: expect.objectContaining(unfoldable) });
    expect(command).toMatchObject({ ok: false, problem: unfoldable });
    expect(page?.ok ? page.page.events.map((ev) => ev.type) : page).toEqual(["Placed", "Dropped"]);
    expect(snapshots).toBe(0);
    expect(errorLines()).toContainEqual(
      expect.objectContaining({ level: "error", entityType: "shelves", type: `${PROBLEMS}state-unfoldable` }),
    );
  });
});

/** Payments whose v1 payloads lack a currency: the upcaster adds one, and throws for a negative amount. */
const ledgers = defineEntity({
  type: "ledgers",
  initialState: { total: 0 },
  commands: { pay: z.object({ amount: z.number() }).strict() },
  events: {
    Paid: event<{ amount: number; currency: string }>({
      version: 2,
      upcast: {
        1: (data) => {
          const v1 = data as { amount: number };
          if (v1.amount < 0) throw new Error("a v1 payment cannot be negative");
          return { ...v1, currency: "EUR" };
        },
      },
    }),
  },
  decide: (_state, command) => [{ type: "Paid", data: { amount: command.data.amount, currency: "USD" } }],
  evolve: (state, e) => ({ total: state.total + e.data.amount }),
});

const LedgerHost = createEntityActor(new EntityRegistry([ledgers]));

describe("events an upcaster cannot lift", () => {
  /**
   * A ledger with one payment recorded now (seq 1), then two stored at version 1 by an older
   * deployment: one the upcaster lifts (seq 2) and one it throws for (seq 3).
   */
  async function ledgerWithABadV1Event() {
    const e = hosted("ledgers");
    const stub = env.ENTITY.get(env.ENTITY.idFromName(entityObjectName(e.address.tenant, "ledgers", "e1")));
    const inLedger = <T>(work: (actor: EntityActor) => Promise<T>): Promise<T> =>
      runInDurableObject(stub, async (_platformActor, state) => {
        const actor = new LedgerHost(state, env);
        await state.blockConcurrencyWhile(async () => {});
        return work(actor);
      });
    await inLedger(async (actor) => {
      expect((await actor.command(e.command("pay", { amount: 10 }))).ok).toBe(true);
    });
    await runInDurableObject(stub, async (_actor, state) => {
      const [first] = state.storage.sql.exec<{ meta: string }>("SELECT meta FROM events WHERE seq = 1").toArray();
      for (const [seq, amount] of [
        [2, 5],
        [3, -5],
      ] as const) {
        state.storage.sql.exec(
          "INSERT INTO events (seq, type, schema_version, data, meta) VALUES (?, 'Paid', 1, ?, ?)",
          seq,
          JSON.stringify({ amount }),
          first?.meta.replace(/"eventId":"[^"]*"/, `"eventId":"${crypto.randomUUID()}"`),
        );
      }
    });
    await e.restart();
    const relayState = () =>
      runInDurableObject(stub, (_actor, state) =>
        state.storage.sql.exec("SELECT pending_from, sent_up_to FROM relay_state").one(),
      );
    return { ...e, inLedger, relayState };
  }

  const unliftable = {
    type: `${PROBLEMS}state-unfoldable`,
    status: 500,
    detail: expect.stringContaining(
      "Paid (seq 3) cannot be lifted to its current version: v1 → v2: its upcaster threw: a v1 payment cannot be negative; fix the upcaster",
    ),
  };

  it("answers reads and commands with 500 state-unfoldable naming the event and what its upcaster threw", async () => {
    const e = await ledgerWithABadV1Event();
    const { read, past, command } = await e.inLedger(async (actor) => ({
      read: await actor.read(e.address, null),
      past: await actor.read(e.address, 1),
      command: await actor.command(e.command("pay", { amount: 1 })),
    }));
    expect(read).toEqual({ ok: false, problem: expect.objectContaining(unliftable) });
    expect(past).toEqual({ ok: false, problem: expect.objectContaining(unliftable) });
    expect(command).toMatchObject({ ok: false, problem: unliftable });
    expect(errorLines()).toContainEqual(
      expect.objectContaining({ level: "error", entityType: "ledgers", type: `${PROBLEMS}state-unfoldable` }),
    );
  });

  it("serves the log up to the event it cannot lift, and refuses a page that starts at it", async () => {
    const e = await ledgerWithABadV1Event();
    const reads = await e.inLedger(async (actor) => ({
      page: await actor.events(e.address, 0, 10),
      atBad: await actor.events(e.address, 2, 10),
      stream: await actor.streamRead(e.address, 0, 10, 0),
      streamAtBad: await actor.streamRead(e.address, 2, 10, 0),
    }));
    expect(reads.page?.ok ? reads.page.page : reads.page).toMatchObject({
      events: [{ seq: 1 }, { seq: 2, schemaVersion: 2, data: { amount: 5, currency: "EUR" } }],
      next: 2,
    });
    expect(reads.atBad).toEqual({ ok: false, problem: expect.objectContaining(unliftable) });
    expect(reads.stream).toMatchObject({ ok: true, events: [{ seq: 1 }, { seq: 2 }], version: 3 });
    expect(reads.streamAtBad).toEqual({ ok: false, problem: expect.objectContaining(unliftable) });
  });

  it("refuses a live subscription whose first page of backlog reaches the event, instead of opening one that stops there in silence", async () => {
    const e = await ledgerWithABadV1Event();
    const url = (after: number) =>
      `https://entity/live?tenant=${e.address.tenant}&type=ledgers&id=e1&after=${after}&key=`;
    const statuses = await e.inLedger(async (actor) => {
      const answers = await Promise.all([0, 2, 3].map((after) => actor.fetch(new Request(url(after)))));
      const [fromStart, atBad, past] = answers;
      await past?.body?.cancel();
      return {
        fromStart: { status: fromStart?.status, body: await fromStart?.json() },
        atBad: atBad?.status,
        past: past?.status,
      };
    });
    expect(statuses).toEqual({
      fromStart: { status: 500, body: expect.objectContaining(unliftable) },
      atBad: 500,
      past: 200,
    });
  });

  it("lets the relay send the facts of its outbox as stored, so an upcaster that fails holds back none of them", async () => {
    const e = await ledgerWithABadV1Event();
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    await e.inLedger(async (actor) => {
      await actor.read(e.address, null); // wakes the entity, and its relay with it
      await actor.alarm(); // the relay's safety net: sends what its outbox holds
    });
    const cursors = await e.relayState();
    // Everything up to the head (3) is sent: the outbox's next fact would be 4.
    expect(cursors).toMatchObject({ pending_from: 4, sent_up_to: 3 });
    const relayFailures = warnings.mock.calls.filter(([line]) => String(line).includes("relay send failed"));
    expect(relayFailures).toEqual([]);
  });

  it("makes the facts consumer dead-letter a fact its upcaster cannot lift, and settle the rest of the batch", async () => {
    // Two v1 payments on the wire, as a deployment before the currency field sent them.
    const v1 = (entityId: string, amount: number) =>
      toCloudEvent({
        ...fact(ledgers, entityId, "Paid", { amount, currency: "" }, { tenant: "upcast-consumer" }),
        schemaVersion: 1,
        data: { amount },
      });
    const [good, bad] = [v1("l-good", 5), v1("l-bad", -5)];
    const batch = createMessageBatch(
      "factline-facts",
      [good, bad].map((body, i) => ({ id: `upcast-${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    const app = { entities: new EntityRegistry([ledgers]), projections: [], sagas: [], services: {} };

    await consumeFacts(batch, env, app);

    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.retryMessages).toEqual([]);
    expect([...result.explicitAcks].sort()).toEqual(["upcast-0", "upcast-1"]);
    const letter = await env.DB.prepare("SELECT entity_id, error FROM dead_letters WHERE id = ?")
      .bind(bad.id)
      .first<{ entity_id: string; error: string }>();
    expect(letter).toEqual({
      entity_id: bad.entityid,
      error: expect.stringContaining("Paid (seq 1) cannot be lifted to its current version"),
    });
  });

  it("is refused when the entity is defined if an event's version lacks an upcaster below it", () => {
    const define = (upcast?: Record<number, (data: unknown) => unknown>) =>
      defineEntity({
        type: "gaps",
        initialState: {},
        commands: { note: z.object({}).strict() },
        events: { Noted: event<{ text: string }>({ version: 3, ...(upcast ? { upcast } : {}) }) },
        decide: () => [],
        evolve: (state) => state,
      });
    expect(() => define()).toThrow("gaps: event Noted is at version 3 but has no upcast[1] (v1 → v2)");
    expect(() => define({ 1: (d) => d })).toThrow("has no upcast[2] (v2 → v3)");
    expect(() => define({ 1: (d) => d, 2: (d) => d })).not.toThrow();
  });

  it("answers 500 state-unfoldable when an upcaster returns undefined, rather than folding an event without data", () => {
    const lossy = defineEntity({
      type: "lossy",
      initialState: {},
      commands: { note: z.object({}).strict() },
      events: { Noted: event<{ text: string }>({ version: 2, upcast: { 1: () => undefined } }) },
      decide: () => [],
      evolve: (state) => state,
    });
    expect(() => lossy.upcast("Noted", 1, { text: "x" }, 7)).toThrow(
      "Noted (seq 7) cannot be lifted to its current version: v1 → v2: its upcaster returned undefined",
    );
  });
});
