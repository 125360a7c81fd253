// The saga state machine, pure: given the events so far, when something happens, then these
// saga events are recorded or these tasks are due. Uses a small two-stage saga defined here.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEntity, event } from "../../src/core/model/entity.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import { concernsSagas } from "../../src/core/saga/saga-delivery.js";
import {
  type ActionCheck,
  callRefusal,
  defineSaga,
  defineUntypedSaga,
  evolve,
  factEvents,
  NEW_SAGA,
  operatorCompensate,
  OUTCOME_TEXT_MAX,
  operatorResolve,
  resolvableTasks,
  MAX_TASK_KEY_CHARS,
  operatorRetry,
  outcomeEvents,
  plan,
  taskIdempotencyKey,
  type DueTask,
  type FinalSagaTask,
  type OperatorDecision,
  type SagaDefinition,
  type SagaEvent,
  type SagaState,
  type SagaTask,
} from "../../src/core/model/saga.js";
import { defineServiceContract, type ServiceContract } from "../../src/core/model/service-contract.js";

const trip = defineUntypedSaga<{ tripId: string }>({
  name: "trip",
  startedBy: { entityType: "trips", eventType: "TripBooked" },
  instanceOf: (fact) => fact.meta.entityId,
  start: (fact) => ({ tripId: fact.meta.entityId }),
  stages: [
    {
      name: "book",
      timeoutMs: 1_000,
      tasks: (t) => [
        { key: "hotel", run: cmd("hotels", "book", t.tripId), compensate: cmd("hotels", "cancel", t.tripId) },
        { key: "flight", run: cmd("flights", "book", t.tripId), compensate: cmd("flights", "cancel", t.tripId) },
      ],
    },
    {
      name: "pay",
      timeoutMs: 1_000,
      tasks: (t) => [
        { key: "pay", run: cmd("payments", "charge", t.tripId), compensate: cmd("payments", "refund", t.tripId) },
      ],
    },
  ],
  abortOn: (fact) => (fact.type === "TripCancelled" ? "the traveller cancelled" : null),
  finallyCompensate: (t) => [{ key: "cancel-trip", run: cmd("trips", "cancel", t.tripId) }],
});

/** `trip` with a mistake: its second stage reuses the first stage's task key `hotel`. */
const reusing = defineUntypedSaga<{ tripId: string }>({
  ...trip,
  stages: [
    trip.stages[0]!,
    {
      name: "pay",
      timeoutMs: 1_000,
      tasks: (t) => [
        { key: "hotel", run: cmd("payments", "charge", t.tripId), compensate: cmd("payments", "refund", t.tripId) },
      ],
    },
  ],
});

/** `trip` with a mistake: its final task reuses the task key `hotel`. */
const clashing = defineUntypedSaga<{ tripId: string }>({
  ...trip,
  finallyCompensate: (t) => [{ key: "hotel", run: cmd("trips", "cancel", t.tripId) }],
});

function cmd(entityType: string, command: string, id: string) {
  return { kind: "command" as const, entityType, entityId: id, command, data: {} };
}

const policy = { retry: { maxAttempts: 3, maxCompensationAttempts: 2, baseMs: 10, maxMs: 100 } };

/** A host that refuses no action (parses every command, makes every call). */
const anyAction: ActionCheck = () => null;

function fact(type: string, eventId: string, entityType = "trips"): RecordedEvent {
  return {
    seq: 1,
    type,
    schemaVersion: 1,
    data: {},
    meta: {
      eventId,
      tenant: "t",
      entityType,
      entityId: "trip-1",
      hlc: "000000000000001.000000",
      recordedAt: "",
      correlationId: "c",
      causationId: null,
      idempotencyKey: null,
      traceparent: null,
    },
  };
}

const verb = (d: DueTask) => (d.action.kind === "command" ? d.action.command : d.action.operation);

const fold = (events: readonly SagaEvent[], from: SagaState = NEW_SAGA) => events.reduce(evolve, from);

/** The events of an operator's action that was not refused. */
function accepted(decision: OperatorDecision): readonly SagaEvent[] {
  if (!decision.ok) throw new Error(`refused: ${JSON.stringify(decision.refusal)}`);
  return decision.events;
}

type Trip = SagaDefinition<{ tripId: string }>;

/**
 * Records whatever `definition`'s plan records, on a host whose services answer `calls`, until
 * tasks are due; returns the state and the due tasks.
 */
function settle(
  state: SagaState,
  now: number,
  definition: Trip = trip,
  calls: ActionCheck = anyAction,
): { state: SagaState; due: readonly DueTask[] } {
  let s = state;
  for (;;) {
    const p = plan(definition, s, now, policy, calls);
    if (p.kind === "record") s = fold(p.events, s);
    else return { state: s, due: p.kind === "run" ? p.tasks : [] };
  }
}

/** An instance of `definition` started by trip-1's booking at time 0. */
function started(definition: Trip = trip): SagaState {
  return fold(factEvents(definition, NEW_SAGA, "t:trip:trip-1", fact("TripBooked", "e1"), 0));
}

function finish(
  state: SagaState,
  due: readonly DueTask[],
  now: number,
  kind: "done" | "rejected" | "failed" = "done",
): SagaState {
  let s = state;
  for (const d of due) {
    const outcome =
      kind === "done" ? { kind, result: null } : kind === "rejected" ? { kind, reason: "no" } : { kind, error: "down" };
    s = fold(outcomeEvents(s, d, outcome, now, 10), s);
  }
  return s;
}

describe("saga state machine", () => {
  it("given a starting fact, when it arrives, the saga starts and its first stage's tasks are due together", () => {
    const { due } = settle(started(), 0);
    expect(due.map((d) => [d.task.key, d.phase])).toEqual([
      ["hotel", "run"],
      ["flight", "run"],
    ]);
  });

  it("given a started saga, when the starting fact arrives again, nothing is recorded", () => {
    expect(factEvents(trip, started(), "t:trip:trip-1", fact("TripBooked", "e1"), 5)).toEqual([]);
  });

  it("given no saga yet, when a later fact arrives before the starting one, it is not acted on", () => {
    expect(factEvents(trip, NEW_SAGA, "t:trip:trip-1", fact("HotelBooked", "e9", "hotels"), 0)).toEqual([]);
  });

  it("given a stage whose tasks all succeed, the next stage starts, and after the last the saga completes", () => {
    let { state, due } = settle(started(), 0);
    state = finish(state, due, 1);
    ({ state, due } = settle(state, 1));
    expect(due.map((d) => d.task.key)).toEqual(["pay"]);
    state = finish(state, due, 2);
    expect(settle(state, 2).state.status).toBe("completed");
  });

  it("given a stage that reuses an earlier stage's task key, the saga stops for attention instead of skipping the task", () => {
    const { state, due } = settle(started(reusing), 0, reusing);
    expect(plan(reusing, finish(state, due, 1), 2, policy, anyAction)).toEqual({
      kind: "record",
      events: [{ type: "AttentionNeeded", error: "stage pay repeats task key hotel", at: 2 }],
    });
  });

  it("given a stage that lists one task key twice, the saga stops for attention before running either", () => {
    const twice = defineUntypedSaga({
      ...trip,
      stages: [
        {
          name: "book",
          timeoutMs: 1_000,
          tasks: (t: { tripId: string }) => [
            { key: "hotel", run: cmd("hotels", "book", t.tripId) },
            { key: "hotel", run: cmd("hotels", "upgrade", t.tripId) },
          ],
        },
      ],
    });
    const state = fold(factEvents(twice, NEW_SAGA, "t:trip:trip-1", fact("TripBooked", "e1"), 0));
    expect(plan(twice, state, 0, policy, anyAction)).toEqual({
      kind: "record",
      events: [{ type: "AttentionNeeded", error: "stage book repeats task key hotel", at: 0 }],
    });
  });

  it("given final compensating tasks that reuse a stage's task key, turning round stops for attention instead of skipping them", () => {
    const { state } = settle(started(clashing), 0, clashing);
    expect(operatorCompensate(clashing, state, 1, policy, anyAction)).toEqual({
      ok: true,
      events: [
        {
          type: "AttentionNeeded",
          error: "finallyCompensate repeats task key hotel",
          reason: "compensation forced by an operator",
          at: 1,
        },
      ],
    });
  });

  it("given a task that is rejected, every task of the entered stages is compensated, newest stage first, then the final tasks", () => {
    let { state, due } = settle(started(), 0);
    state = finish(state, due, 1);
    ({ state, due } = settle(state, 1));
    state = finish(state, due, 2, "rejected");
    ({ state, due } = settle(state, 2));
    expect(state.status).toBe("compensating");
    expect(state.reason).toContain("pay was rejected");
    expect(due.map((d) => [d.task.key, verb(d)])).toEqual([["pay", "refund"]]);
    state = finish(state, due, 3);
    ({ state, due } = settle(state, 3));
    expect(due.map((d) => verb(d))).toEqual(["cancel", "cancel"]);
    state = finish(state, due, 4);
    ({ state, due } = settle(state, 4));
    expect(due.map((d) => [d.task.key, verb(d)])).toEqual([["cancel-trip", "cancel"]]);
    state = finish(state, due, 5);
    expect(settle(state, 5).state.status).toBe("compensated");
  });

  it("given an answer with text of any length, the log keeps at most OUTCOME_TEXT_MAX characters of it", () => {
    const { state, due } = settle(started(), 0);
    const [hotel, flight] = due as [DueTask, DueTask];
    const long = "x".repeat(1_000_000);
    const rejected = outcomeEvents(state, hotel, { kind: "rejected", reason: long }, 1, 10);
    const failed = outcomeEvents(state, flight, { kind: "failed", error: long }, 1, 10);
    const deferred = outcomeEvents(state, flight, { kind: "deferred", reason: long, retryAfterMs: 5 }, 1, 10);
    const cut = `${"x".repeat(OUTCOME_TEXT_MAX - 1)}…`;
    expect(rejected).toMatchObject([{ type: "TaskRejected", reason: cut }]);
    expect(failed).toMatchObject([{ type: "TaskFailed", error: cut }]);
    expect(deferred).toMatchObject([{ type: "TaskDeferred", reason: cut }]);
    // The reason the saga turns round with, which finallyCompensate is handed, is bounded with it.
    const turned = settle(fold(rejected, state), 2).state;
    expect(turned.reason?.length).toBeLessThan(OUTCOME_TEXT_MAX + 100);
    expect(outcomeEvents(state, hotel, { kind: "rejected", reason: "no room" }, 1, 10)).toMatchObject([
      { reason: "no room" },
    ]);
  });

  it("given a failing task, it is retried after its backoff without being re-run before then", () => {
    let { state, due } = settle(started(), 0);
    state = finish(state, due.slice(0, 1), 1, "failed");
    state = finish(state, due.slice(1), 1);
    expect(settle(state, 5).due).toEqual([]);
    expect(settle(state, 11).due.map((d) => d.task.key)).toEqual(["hotel"]);
  });

  it("given a task that keeps failing, after its attempts the saga compensates", () => {
    let { state, due } = settle(started(), 0);
    for (let now = 100; now <= 300; now += 100)
      state = finish(
        state,
        due.filter((d) => d.task.key === "hotel"),
        now,
        "failed",
      );
    ({ state } = settle(state, 400));
    expect(state.status).toBe("compensating");
    expect(state.reason).toContain("hotel failed 3 times");
  });

  it("given a deferred task (breaker open), waiting does not use up its attempts", () => {
    let { state, due } = settle(started(), 0);
    const hotel = due.filter((d) => d.task.key === "hotel");
    for (let now = 1; now <= 10; now++) {
      state = fold(
        outcomeEvents(state, hotel[0] as DueTask, { kind: "deferred", reason: "open", retryAfterMs: 1 }, now, 10),
        state,
      );
    }
    expect(state.attempts["hotel"]?.count).toBe(0);
    expect(settle(state, 20).state.status).toBe("running");
  });

  it("given a stage that does not finish in time, the saga compensates when the deadline passes", () => {
    const { state } = settle(started(), 0);
    expect(plan(trip, state, 999, policy, anyAction).kind).toBe("run");
    const after = settle(state, 1_000).state;
    expect(after.status).toBe("compensating");
    expect(after.reason).toBe("stage book timed out");
  });

  it("given compensation that keeps failing, the saga escalates for attention, and an operator's retry resumes it", () => {
    let { state, due } = settle(started(), 0);
    state = finish(state, due, 1, "rejected");
    ({ state, due } = settle(state, 1));
    state = finish(state, due, 2, "failed");
    state = finish(state, due, 20, "failed");
    ({ state, due } = settle(state, 40));
    expect(state.status).toBe("attention");
    expect(state.error).toContain("failed 2 times");
    expect(due).toEqual([]);

    state = fold(accepted(operatorRetry(trip, state, 50, policy, anyAction)), state);
    ({ state, due } = settle(state, 50));
    expect(state.status).toBe("compensating");
    expect(due.map((d) => d.phase)).toEqual(["compensate", "compensate"]);
  });

  it("given a running saga, an abort fact or an operator turns it round; a finished saga refuses", () => {
    const { state } = settle(started(), 0);
    const aborted = fold(factEvents(trip, state, "t:trip:trip-1", fact("TripCancelled", "e2"), 1), state);
    expect(aborted).toMatchObject({ status: "compensating", reason: "the traveller cancelled" });
    expect(fold(accepted(operatorCompensate(trip, state, 1, policy, anyAction)), state).status).toBe("compensating");
    expect(operatorRetry(trip, state, 1, policy, anyAction)).toEqual({
      ok: false,
      refusal: { type: "wrong-status", status: "running" },
    });
  });

  it("given a compensation rejected with a code its task declares as nothing to undo, it counts as done", () => {
    const task = {
      key: "pay",
      run: cmd("payments", "submit", "trip-1"),
      compensate: cmd("payments", "decline", "trip-1"),
      nothingToUndo: ["no-payment"],
    };
    const state = fold([
      { type: "SagaStarted", context: { tripId: "trip-1" }, fact: "e1", at: 0 },
      { type: "CompensationBegan", reason: "r", groups: [[task]], at: 1 },
    ]);
    const due: DueTask = { task, phase: "compensate", action: task.compensate };
    expect(
      outcomeEvents(state, due, { kind: "rejected", reason: "nothing submitted", code: "no-payment" }, 2, 10),
    ).toEqual([{ type: "CompensationDone", key: "pay", at: 2 }]);
    expect(outcomeEvents(state, due, { kind: "rejected", reason: "other", code: "other" }, 2, 10)).toMatchObject([
      { type: "CompensationFailed", key: "pay" },
    ]);
  });

  it("given a late outcome of a task from before compensation began, it records nothing", () => {
    const { state, due } = settle(started(), 0);
    const turned = fold(accepted(operatorCompensate(trip, state, 1, policy, anyAction)), state);
    expect(outcomeEvents(turned, due[0] as DueTask, { kind: "done", result: null }, 2, 10)).toEqual([]);
  });
});

describe("saga state machine: task keys", () => {
  /** A saga id at its longest instance id (128, an entity id's bound), and a task key of a 100-character SKU. */
  const longSagaId = `demo:order-fulfillment:${"o".repeat(128)}`;
  const longTaskKey = `reserve:${"s".repeat(100)}`;

  it("given a stage with a task key holding '/', the saga stops for attention before running any of its tasks", () => {
    // `hotel/undo` would run under the key of hotel's compensation.
    const slashed = defineUntypedSaga<{ tripId: string }>({
      ...trip,
      stages: [
        {
          name: "book",
          timeoutMs: 1_000,
          tasks: (t) => [
            { key: "hotel", run: cmd("hotels", "book", t.tripId), compensate: cmd("hotels", "cancel", t.tripId) },
            { key: "hotel/undo", run: cmd("hotels", "upgrade", t.tripId) },
          ],
        },
      ],
    });
    expect(plan(slashed, started(slashed), 0, policy, anyAction)).toEqual({
      kind: "record",
      events: [
        {
          type: "AttentionNeeded",
          error: 'stage book has task key hotel/undo, which holds "/" (the idempotency key separator)',
          at: 0,
        },
      ],
    });
  });

  it("given a stage with a task key an operator's resolve could not name (over 200 characters, or empty), the saga stops for attention before running any of its tasks", () => {
    for (const key of ["k".repeat(MAX_TASK_KEY_CHARS + 1), ""]) {
      const unnamable = defineUntypedSaga<{ tripId: string }>({
        ...trip,
        stages: [{ name: "book", timeoutMs: 1_000, tasks: (t) => [{ key, run: cmd("hotels", "book", t.tripId) }] }],
      });
      expect(plan(unnamable, started(unnamable), 0, policy, anyAction)).toMatchObject({
        kind: "record",
        events: [{ type: "AttentionNeeded", error: expect.stringContaining("which is not 1-200 characters") }],
      });
    }
    const longest = defineUntypedSaga<{ tripId: string }>({
      ...trip,
      stages: [
        {
          name: "book",
          timeoutMs: 1_000,
          tasks: (t) => [{ key: "k".repeat(MAX_TASK_KEY_CHARS), run: cmd("hotels", "book", t.tripId) }],
        },
      ],
    });
    const entered = plan(longest, started(longest), 0, policy, anyAction);
    expect(entered.kind === "record" ? entered.events.map((e) => e.type) : entered.kind).toEqual(["StageEntered"]);
  });

  it("given a final task key holding '/', turning round stops for attention before running it", () => {
    const slashed = defineUntypedSaga<{ tripId: string }>({
      ...trip,
      finallyCompensate: (t) => [{ key: "trip/cancel", run: cmd("trips", "cancel", t.tripId) }],
    });
    const { state } = settle(started(slashed), 0, slashed);
    expect(operatorCompensate(slashed, state, 1, policy, anyAction)).toMatchObject({
      ok: true,
      events: [
        {
          type: "AttentionNeeded",
          error: 'finallyCompensate has task key trip/cancel, which holds "/" (the idempotency key separator)',
        },
      ],
    });
  });

  it("keeps the idempotency keys of task keys without '/' as they were, so tasks in flight are not run twice", async () => {
    expect(await taskIdempotencyKey("t:trip:trip-1", "reserve:tv", "run")).toBe("t:trip:trip-1/reserve:tv");
    expect(await taskIdempotencyKey("t:trip:trip-1", "reserve:tv", "compensate")).toBe("t:trip:trip-1/reserve:tv/undo");
  });

  it("keeps a key that fits the Idempotency-Key grammar unchanged, however close to its 255 characters", async () => {
    const sagaId = `demo:order-fulfillment:${"o".repeat(128)}`;
    const taskKey = `reserve:${"s".repeat(255 - sagaId.length - "/reserve:".length)}`;
    expect(await taskIdempotencyKey(sagaId, taskKey, "run")).toBe(`${sagaId}/${taskKey}`);
  });

  it("fits a key longer than 255 characters into the Idempotency-Key grammar", async () => {
    const key = await taskIdempotencyKey(longSagaId, longTaskKey, "compensate");
    expect(key).toMatch(/^[\x21-\x7e]{1,255}$/);
  });

  it("gives a long key the same fitted key on every call, so retries and redeliveries replay", async () => {
    expect(await taskIdempotencyKey(longSagaId, longTaskKey, "run")).toBe(
      await taskIdempotencyKey(longSagaId, longTaskKey, "run"),
    );
  });

  it("gives a long task's run and its compensation different keys", async () => {
    expect(await taskIdempotencyKey(longSagaId, longTaskKey, "run")).not.toBe(
      await taskIdempotencyKey(longSagaId, longTaskKey, "compensate"),
    );
  });

  it("gives two long keys that share their first 200 characters different keys", async () => {
    expect(await taskIdempotencyKey(longSagaId, `${longTaskKey}-a`, "run")).not.toBe(
      await taskIdempotencyKey(longSagaId, `${longTaskKey}-b`, "run"),
    );
  });

  it("fits a task key holding a space or non-ASCII characters into the Idempotency-Key grammar", async () => {
    for (const taskKey of ["reserve tv", "réserver:téléviseur", "reserve:📺"])
      expect(await taskIdempotencyKey("t:trip:trip-1", taskKey, "run")).toMatch(/^[\x21-\x7e]{1,255}$/);
  });

  it("gives two task keys differing only in characters outside visible ASCII different keys", async () => {
    expect(await taskIdempotencyKey("t:trip:trip-1", "reserve é", "run")).not.toBe(
      await taskIdempotencyKey("t:trip:trip-1", "reserve è", "run"),
    );
  });

  it("refuses a saga whose name would make its instances' ids ambiguous", () => {
    for (const name of ["a:b", "a/b", "", "Trip"])
      expect(() => defineUntypedSaga({ ...trip, name })).toThrow(
        `saga name ${JSON.stringify(name)}: must be 1-40 of a-z 0-9`,
      );
  });
});

describe("saga state machine: final tasks", () => {
  const undo = cmd("trips", "uncancel", "trip-1");
  /** `trip` whose final task also carries `extra`, as untyped (JavaScript) code can write it. */
  const finalWith = (extra: Partial<SagaTask>) =>
    defineUntypedSaga<{ tripId: string }>({
      ...trip,
      finallyCompensate: (t) =>
        [{ key: "cancel-trip", run: cmd("trips", "cancel", t.tripId), ...extra }] as FinalSagaTask[],
    });
  /** A log in which the saga entered its book stage and turned round with `final` as its last group. */
  const turnedRoundWith = (final: SagaTask) => {
    const hotel = { key: "hotel", run: cmd("hotels", "book", "trip-1"), compensate: cmd("hotels", "cancel", "trip-1") };
    return fold([
      { type: "SagaStarted", context: { tripId: "trip-1" }, fact: "e1", at: 0 },
      { type: "StageEntered", stage: 0, tasks: [hotel], deadline: 1_000, at: 0 },
      { type: "CompensationBegan", reason: "r", groups: [[hotel], [final]], at: 1 },
      { type: "CompensationDone", key: "hotel", at: 2 },
    ]);
  };

  it("given a turn round, a final task runs its run under the compensating key final tasks have always run under", async () => {
    const running = settle(started(), 0).state;
    const turned = settle(fold(accepted(operatorCompensate(trip, running, 1, policy, anyAction)), running), 1);
    const { due } = settle(finish(turned.state, turned.due, 2), 2);
    const keyed = await Promise.all(
      due.map(async (d) => [verb(d), await taskIdempotencyKey("t:trip:trip-1", d.task.key, d.phase)]),
    );
    expect(keyed).toEqual([["cancel", "t:trip:trip-1/cancel-trip/undo"]]);
  });

  it("given a final task with a compensate, turning round stops for attention before any final task runs", () => {
    const undoable = finalWith({ compensate: undo });
    expect(operatorCompensate(undoable, started(undoable), 1, policy, anyAction)).toEqual({
      ok: true,
      events: [
        {
          type: "AttentionNeeded",
          error:
            "finallyCompensate has task cancel-trip with a compensate (a final task runs its run; nothing undoes it)",
          reason: "compensation forced by an operator",
          at: 1,
        },
      ],
    });
  });

  it("given a final task with nothingToUndo, turning round stops for attention before any final task runs", () => {
    const excused = finalWith({ nothingToUndo: ["not-cancelled"] });
    expect(operatorCompensate(excused, started(excused), 1, policy, anyAction)).toMatchObject({
      ok: true,
      events: [
        {
          type: "AttentionNeeded",
          error:
            "finallyCompensate has task cancel-trip with nothingToUndo (a final task runs its run; nothing undoes it)",
        },
      ],
    });
  });

  it("given a log recorded with a final task carrying a compensate, that task's run is what runs, under its …/undo key", () => {
    const final = { key: "cancel-trip", run: cmd("trips", "cancel", "trip-1"), compensate: undo };
    const { due } = settle(turnedRoundWith(final), 3);
    expect(due.map((d) => [d.task.key, d.phase, verb(d)])).toEqual([["cancel-trip", "compensate", "cancel"]]);
  });

  it("given a log recorded with a final task carrying nothingToUndo, its run rejected with such a code is not taken for done", () => {
    const final = { key: "cancel-trip", run: cmd("trips", "cancel", "trip-1"), nothingToUndo: ["closed"] };
    const state = turnedRoundWith(final);
    const [due] = settle(state, 3).due;
    expect(
      outcomeEvents(state, due as DueTask, { kind: "rejected", reason: "closed", code: "closed" }, 3, 10),
    ).toMatchObject([{ type: "CompensationFailed", key: "cancel-trip" }]);
  });
});

describe("saga state machine: plain JSON in its log", () => {
  it("refuses a start whose context is not plain JSON, failing the delivery instead of recording it", () => {
    const dated = defineUntypedSaga<{ tripId: string; bookedAt: Date }>({
      ...trip,
      start: (f) => ({ tripId: f.meta.entityId, bookedAt: new Date(0) }),
    });
    expect(() => factEvents(dated, NEW_SAGA, "t:trip:trip-1", fact("TripBooked", "e1"), 0)).toThrow(
      "saga trip: start returned a context that is not plain JSON: context.bookedAt is a Date",
    );
  });

  it("given a stage whose task is not plain JSON, the saga stops for attention before running any of its tasks", () => {
    const dated = defineUntypedSaga<{ tripId: string }>({
      ...trip,
      stages: [
        {
          name: "book",
          timeoutMs: 1_000,
          tasks: (t) => [
            { key: "hotel", run: { ...cmd("hotels", "book", t.tripId), data: { from: new Date(0) } } },
            { key: "flight", run: cmd("flights", "book", t.tripId) },
          ],
        },
      ],
    });
    expect(plan(dated, started(dated), 0, policy, anyAction)).toEqual({
      kind: "record",
      events: [
        {
          type: "AttentionNeeded",
          error: "stage book has task hotel that is not plain JSON: run.data.from is a Date",
          at: 0,
        },
      ],
    });
  });

  it("given a final task that is not plain JSON, turning round stops for attention with its reason kept", () => {
    const undefinedNote = defineUntypedSaga<{ tripId: string }>({
      ...trip,
      finallyCompensate: (t) => [
        { key: "cancel-trip", run: { ...cmd("trips", "cancel", t.tripId), data: { note: undefined } } },
      ],
    });
    const { state } = settle(started(undefinedNote), 0, undefinedNote);
    expect(operatorCompensate(undefinedNote, state, 1, policy, anyAction)).toMatchObject({
      ok: true,
      events: [
        {
          type: "AttentionNeeded",
          error: "finallyCompensate has task cancel-trip that is not plain JSON: run.data.note is undefined",
          reason: "compensation forced by an operator",
        },
      ],
    });
  });
});

describe("saga state machine: facts of event types their entity does not declare", () => {
  const trips = defineEntity({
    type: "trips",
    initialState: {},
    commands: { book: z.object({}).strict() },
    events: { TripBooked: event<Record<string, never>>() },
    decide: () => [{ type: "TripBooked", data: {} }],
    evolve: (state) => state,
  });
  const typed = defineSaga(trips)({
    name: "trip",
    startedBy: { entityType: "trips", eventType: "TripBooked" },
    instanceOf: (f) => f.meta.entityId,
    start: (f) => ({ tripId: f.meta.entityId }),
    stages: [{ name: "book", timeoutMs: 1_000, tasks: () => [] }],
    finallyCompensate: () => [],
  });

  it("hands an instance only facts of a type their entity declares: one renamed or removed concerns none", () => {
    expect(typed.instanceOf(fact("TripBooked", "e1"))).toBe("trip-1");
    expect(typed.instanceOf(fact("TripReserved", "e2"))).toBeNull();
    expect(concernsSagas([typed], [fact("TripReserved", "e2")])).toBe(false);
  });
});

describe("saga state machine: the operator's way out of attention", () => {
  /** `reusing` with its book stage done: stopped for attention before entering its pay stage. */
  function stoppedByReusedKey(): SagaState {
    const { state, due } = settle(started(reusing), 0, reusing);
    return settle(finish(state, due, 1), 2, reusing).state;
  }

  it("given a saga stopped before its pivot by a stage repeating a task key, compensate undoes the stages entered, newest first, never the stage that stopped it", () => {
    let state = stoppedByReusedKey();
    expect(state).toMatchObject({ status: "attention", error: "stage pay repeats task key hotel" });
    state = fold(accepted(operatorCompensate(reusing, state, 3, policy, anyAction)), state);
    let due: readonly DueTask[];
    ({ state, due } = settle(state, 3, reusing));
    expect(state).toMatchObject({ status: "compensating", reason: "compensation forced by an operator" });
    expect(due.map((d) => `${d.action.kind === "command" ? d.action.entityType : ""}.${verb(d)}`)).toEqual([
      "hotels.cancel",
      "flights.cancel",
    ]);
    ({ state, due } = settle(finish(state, due, 4), 4, reusing));
    expect(due.map((d) => [d.task.key, verb(d)])).toEqual([["cancel-trip", "cancel"]]);
    expect(settle(finish(state, due, 5), 5, reusing).state.status).toBe("compensated");
  });

  it("given a saga stopped by a stage repeating a task key, retry is refused as stopping it again, and enters the stage once the definition is fixed", () => {
    const state = stoppedByReusedKey();
    expect(operatorRetry(reusing, state, 3, policy, anyAction)).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: "stage pay repeats task key hotel" },
    });
    // `trip` is the fixed definition, deployed under the same name.
    const retried = settle(fold(accepted(operatorRetry(trip, state, 3, policy, anyAction)), state), 3);
    expect(retried.state.status).toBe("running");
    expect(retried.due.map((d) => [d.task.key, verb(d)])).toEqual([["pay", "charge"]]);
  });

  it("given an abort fact while the final tasks' keys clash, the saga stops for attention with the abort's reason recorded", () => {
    const { state } = settle(started(clashing), 0, clashing);
    const events = factEvents(clashing, state, "t:trip:trip-1", fact("TripCancelled", "e2"), 1);
    expect(events.at(-1)).toEqual({
      type: "AttentionNeeded",
      error: "finallyCompensate repeats task key hotel",
      reason: "the traveller cancelled",
      at: 1,
    });
    expect(fold(events, state)).toMatchObject({ status: "attention", reason: "the traveller cancelled" });
  });

  it("given a saga stopped while turning round for an abort, retry turns it round for that reason once the final tasks are fixed, never forward", () => {
    const { state } = settle(started(clashing), 0, clashing);
    const stopped = fold(factEvents(clashing, state, "t:trip:trip-1", fact("TripCancelled", "e2"), 1), state);
    expect(operatorRetry(clashing, stopped, 2, policy, anyAction)).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: "finallyCompensate repeats task key hotel" },
    });
    const retried = fold(accepted(operatorRetry(trip, stopped, 2, policy, anyAction)), stopped);
    expect(retried).toMatchObject({ status: "compensating", reason: "the traveller cancelled" });
  });

  it("given a stage timing out while the final tasks' keys clash, retry and compensate both turn the saga round once they are fixed", () => {
    const stopped = settle(settle(started(clashing), 0, clashing).state, 1_000, clashing).state;
    expect(stopped).toMatchObject({ status: "attention", reason: "stage book timed out" });
    expect(operatorCompensate(clashing, stopped, 1_001, policy, anyAction)).toMatchObject({
      ok: false,
      refusal: { type: "escalates-again" },
    });
    for (const act of [operatorRetry, operatorCompensate]) {
      const resumed = fold(accepted(act(trip, stopped, 1_001, policy, anyAction)), stopped);
      expect(resumed).toMatchObject({ status: "compensating", reason: "stage book timed out" });
    }
  });
});

describe("saga state machine: a compensating call its service refuses", () => {
  /** The bank as first deployed: its contract lacks the refund the saga undoes a charge with. */
  const bankWithoutRefund = defineServiceContract("bank", { charge: z.object({ tripId: z.string() }) });
  /** The bank once fixed: it declares the refund. */
  const bank = defineServiceContract("bank", {
    charge: z.object({ tripId: z.string() }),
    refund: z.object({ tripId: z.string() }),
  });
  const bankCall = (operation: string, tripId: string) =>
    ({ kind: "call", service: "bank", operation, data: { tripId } }) as const;
  /** `trip` whose pay stage charges through the bank, refunded on the way back. */
  const banking = defineUntypedSaga<{ tripId: string }, "bank">({
    ...trip,
    services: ["bank"],
    stages: [
      trip.stages[0]!,
      {
        name: "pay",
        timeoutMs: 1_000,
        tasks: (t) => [{ key: "pay", run: bankCall("charge", t.tripId), compensate: bankCall("refund", t.tripId) }],
      },
    ],
  });
  /** A host whose app serves the bank under `contract`. */
  const servedBy =
    (contract: ServiceContract): ActionCheck =>
    (action) =>
      action.kind === "call" ? callRefusal(banking, action, { contract }) : null;
  const refusal =
    "compensating pay (bank.refund) is refused: invalid call bank.refund: the bank contract declares no such operation";

  /** `banking` with its book stage done and its charge rejected: turned round (compensating), the refund next. */
  function turnedRound(calls: ActionCheck): SagaState {
    let { state, due } = settle(started(banking), 0, banking, calls);
    ({ state, due } = settle(finish(state, due, 1), 1, banking, calls));
    const rejected = finish(state, due, 2, "rejected");
    const turn = plan(banking, rejected, 2, policy, calls);
    if (turn.kind !== "record") throw new Error("the rejected charge did not turn the saga round");
    return fold(turn.events, rejected);
  }

  it("given a refund its service's contract refuses, the saga stops for attention at once, naming the call and why, without attempting it", () => {
    const state = turnedRound(servedBy(bankWithoutRefund));
    expect(plan(banking, state, 2, policy, servedBy(bankWithoutRefund))).toEqual({
      kind: "record",
      events: [{ type: "AttentionNeeded", error: refusal, at: 2 }],
    });
    const stopped = settle(state, 2, banking, servedBy(bankWithoutRefund));
    expect(stopped.state).toMatchObject({ status: "attention", error: refusal, escalatedFrom: "compensating" });
    expect(stopped.state.attempts).toEqual({});
    expect(stopped.due).toEqual([]);
  });

  it("given a saga a refused refund stopped, the operator's retry is refused as stopping it again, with the same error, while the contract still refuses it", () => {
    const calls = servedBy(bankWithoutRefund);
    const stopped = settle(turnedRound(calls), 2, banking, calls).state;
    expect(operatorRetry(banking, stopped, 3, policy, calls)).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: refusal },
    });
  });

  it("given a saga a refused refund stopped, the operator's compensate is refused as its retry is", () => {
    const calls = servedBy(bankWithoutRefund);
    const stopped = settle(turnedRound(calls), 2, banking, calls).state;
    expect(operatorCompensate(banking, stopped, 3, policy, calls)).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: refusal },
    });
  });

  it("given a saga a refused refund stopped, the operator's retry resumes the refund once a contract declaring it is deployed", () => {
    const stopped = settle(turnedRound(servedBy(bankWithoutRefund)), 2, banking, servedBy(bankWithoutRefund)).state;
    const retried = settle(
      fold(accepted(operatorRetry(banking, stopped, 3, policy, servedBy(bank))), stopped),
      3,
      banking,
      servedBy(bank),
    );
    expect(retried.state.status).toBe("compensating");
    expect(retried.due.map((d) => [d.task.key, verb(d)])).toEqual([["pay", "refund"]]);
  });

  it("given a saga a refused refund stopped, the operator's resolve of the refund resumes the compensation with the stages before it", () => {
    const calls = servedBy(bankWithoutRefund);
    const stopped = settle(turnedRound(calls), 2, banking, calls).state;
    expect(operatorResolve(stopped, "hotel", 3)).toEqual({ ok: false, refusal: { type: "not-pending", key: "hotel" } });
    const resolved = settle(fold(accepted(operatorResolve(stopped, "pay", 3)), stopped), 3, banking, calls);
    expect(resolved.state).toMatchObject({ status: "compensating", compensated: ["pay"] });
    expect(resolved.due.map((d) => [d.task.key, verb(d)])).toEqual([
      ["hotel", "cancel"],
      ["flight", "cancel"],
    ]);
  });

  it("refuses the operator's resolve of a saga that no compensation stopped", () => {
    const { state } = settle(started(banking), 0, banking, servedBy(bank));
    expect(operatorResolve(state, "hotel", 1)).toEqual({ ok: false, refusal: { type: "not-pending", key: "hotel" } });
    expect(resolvableTasks(state)).toEqual([]);
  });

  it("offers the operator's resolve for the stopped compensation only, and for none once it is resolved", () => {
    const calls = servedBy(bankWithoutRefund);
    const stopped = settle(turnedRound(calls), 2, banking, calls).state;
    expect(resolvableTasks(stopped)).toEqual(["pay"]);
    const resolved = fold(accepted(operatorResolve(stopped, "pay", 3)), stopped);
    expect(resolvableTasks(resolved)).toEqual([]);
  });

  it("given a saga stopped going forward, the operator's compensate is refused while its first compensation is a call its service refuses", () => {
    // A third stage repeating the key `pay` stops the saga once the charge is done, before its pivot.
    const reusingPay = defineUntypedSaga<{ tripId: string }, "bank">({
      ...banking,
      stages: [...banking.stages, { ...banking.stages[1]!, name: "again" }],
    });
    const calls: ActionCheck = (action) =>
      action.kind === "call" ? callRefusal(reusingPay, action, { contract: bankWithoutRefund }) : null;
    let { state, due } = settle(started(reusingPay), 0, reusingPay, calls);
    ({ state, due } = settle(finish(state, due, 1), 1, reusingPay, calls));
    const stopped = settle(finish(state, due, 2), 2, reusingPay, calls).state;
    expect(stopped).toMatchObject({ status: "attention", error: "stage again repeats task key pay" });
    expect(operatorCompensate(reusingPay, stopped, 3, policy, calls)).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: refusal },
    });
  });
});

describe("saga state machine: a compensating command its entity type cannot parse", () => {
  /** A host whose entity types parse every command but `hotels.cancel` (a definition's mistake). */
  const withoutHotelCancel: ActionCheck = (action) =>
    action.kind === "command" && action.entityType === "hotels" && action.command === "cancel"
      ? "invalid hotels.cancel: no such command"
      : null;
  const refusal = "compensating hotel (hotels.cancel) is refused: invalid hotels.cancel: no such command";

  it("given the book stage rejected, the saga stops for attention at once instead of retrying the cancel it cannot send", () => {
    const { state, due } = settle(started(), 0, trip, withoutHotelCancel);
    const stopped = settle(finish(state, due, 1, "rejected"), 1, trip, withoutHotelCancel);
    expect(stopped.state).toMatchObject({ status: "attention", error: refusal, escalatedFrom: "compensating" });
    expect(stopped.state.attempts).toEqual({});
    expect(stopped.due).toEqual([]);
  });

  it("given a saga it stopped, the operator's retry is refused as stopping it again while the entity type still cannot parse it", () => {
    const { state, due } = settle(started(), 0, trip, withoutHotelCancel);
    const stopped = settle(finish(state, due, 1, "rejected"), 1, trip, withoutHotelCancel).state;
    expect(operatorRetry(trip, stopped, 2, policy, withoutHotelCancel)).toEqual({
      ok: false,
      refusal: { type: "escalates-again", error: refusal },
    });
    expect(operatorRetry(trip, stopped, 2, policy, anyAction)).toMatchObject({ ok: true });
  });
});

// A saga with a point of no return: book (compensable) → commit (the pivot) → deliver.
const order = defineUntypedSaga<{ tripId: string }>({
  name: "order",
  startedBy: { entityType: "trips", eventType: "TripBooked" },
  instanceOf: (fact) => fact.meta.entityId,
  start: (fact) => ({ tripId: fact.meta.entityId }),
  stages: [
    {
      name: "book",
      timeoutMs: 1_000,
      tasks: (t) => [
        { key: "hotel", run: cmd("hotels", "book", t.tripId), compensate: cmd("hotels", "cancel", t.tripId) },
      ],
    },
    {
      name: "commit",
      timeoutMs: 1_000,
      pivot: true,
      tasks: (t) => [{ key: "commit", run: cmd("trips", "confirm", t.tripId) }],
    },
    { name: "deliver", timeoutMs: 1_000, tasks: (t) => [{ key: "deliver", run: cmd("tickets", "send", t.tripId) }] },
  ],
  abortOn: (fact) => (fact.type === "TripCancelled" ? "the traveller cancelled" : null),
  finallyCompensate: (t) => [{ key: "cancel-trip", run: cmd("trips", "cancel", t.tripId) }],
});

/** A saga of `order` whose book stage is done and whose pivot stage (commit) has been entered. */
function atPivot(): { state: SagaState; due: readonly DueTask[] } {
  let { state, due } = settle(started(order), 0, order);
  state = finish(state, due, 1);
  return settle(state, 1, order);
}

/** The same saga past its pivot: commit done, deliver due. */
function pastPivot(): { state: SagaState; due: readonly DueTask[] } {
  const { state, due } = atPivot();
  return settle(finish(state, due, 2), 2, order);
}

describe("saga state machine: the pivot (point of no return)", () => {
  it("given the pivot stage entered, an abort fact is ignored and the saga carries on", () => {
    const { state, due } = atPivot();
    expect(due.map((d) => d.task.key)).toEqual(["commit"]);
    const after = fold(factEvents(order, state, "t:order:trip-1", fact("TripCancelled", "e2"), 3), state);
    expect(after.status).toBe("running");
    expect(settle(after, 3, order).due.map((d) => d.task.key)).toEqual(["commit"]);
  });

  it("given the pivot stage entered, its deadline passing does not turn the saga round", () => {
    const { state } = atPivot();
    const late = settle(state, 60_000, order);
    expect(late.state.status).toBe("running");
    expect(late.due.map((d) => d.task.key)).toEqual(["commit"]);
  });

  it("given the pivot's own task refused by its owner, the saga still compensates what came before", () => {
    const { state, due } = atPivot();
    const refused = settle(finish(state, due, 2, "rejected"), 2, order);
    expect(refused.state.status).toBe("compensating");
    expect(refused.due.map((d) => [d.task.key, verb(d)])).toEqual([["hotel", "cancel"]]);
  });

  it("given a saga past its pivot, a task that keeps failing escalates to attention and nothing is compensated", () => {
    let { state, due } = pastPivot();
    expect(due.map((d) => d.task.key)).toEqual(["deliver"]);
    for (let now = 100; now <= 300; now += 100) state = finish(state, due, now, "failed");
    ({ state, due } = settle(state, 400, order));
    expect(state.status).toBe("attention");
    expect(state.error).toContain("deliver failed 3 times");
    expect(state.compensation).toEqual([]);
    expect(due).toEqual([]);
  });

  it("given a saga past its pivot, a rejected task escalates to attention instead of compensating", () => {
    const { state, due } = pastPivot();
    const after = settle(finish(state, due, 3, "rejected"), 3, order).state;
    expect(after.status).toBe("attention");
    expect(after.compensation).toEqual([]);
  });

  it("given a saga that escalated past its pivot, the operator's retry resumes it forward and compensate is refused", () => {
    let { state, due } = pastPivot();
    state = settle(finish(state, due, 3, "rejected"), 3, order).state;
    expect(operatorCompensate(order, state, 4, policy, anyAction)).toEqual({
      ok: false,
      refusal: { type: "past-pivot", status: "attention" },
    });
    state = fold(accepted(operatorRetry(order, state, 4, policy, anyAction)), state);
    ({ state, due } = settle(state, 4, order));
    expect(state.status).toBe("running");
    expect(due.map((d) => [d.task.key, d.phase])).toEqual([["deliver", "run"]]);
    state = finish(state, due, 5);
    expect(settle(state, 5, order).state.status).toBe("completed");
  });

  it("given a saga past its pivot stopped by a stage repeating a task key, compensate is refused and retry waits for a fixed definition", () => {
    const reusingPastPivot = defineUntypedSaga<{ tripId: string }>({
      ...order,
      stages: [
        ...order.stages.slice(0, 2),
        { name: "deliver", timeoutMs: 1_000, tasks: (t) => [{ key: "commit", run: cmd("tickets", "send", t.tripId) }] },
      ],
    });
    const { state, due } = atPivot();
    const stopped = settle(finish(state, due, 2), 2, reusingPastPivot).state;
    expect(stopped).toMatchObject({ status: "attention", error: "stage deliver repeats task key commit" });
    expect(operatorCompensate(reusingPastPivot, stopped, 3, policy, anyAction)).toEqual({
      ok: false,
      refusal: { type: "past-pivot", status: "attention" },
    });
    expect(operatorRetry(reusingPastPivot, stopped, 3, policy, anyAction)).toMatchObject({
      ok: false,
      refusal: { type: "escalates-again" },
    });
    const retried = settle(fold(accepted(operatorRetry(order, stopped, 3, policy, anyAction)), stopped), 3, order);
    expect(retried.due.map((d) => d.task.key)).toEqual(["deliver"]);
  });

  it("given a running saga past its pivot, an operator cannot turn it round", () => {
    expect(operatorCompensate(order, pastPivot().state, 3, policy, anyAction)).toEqual({
      ok: false,
      refusal: { type: "past-pivot", status: "running" },
    });
  });

  it("refuses a saga with two pivots", () => {
    const stage = { name: "s", timeoutMs: 1, pivot: true, tasks: () => [] };
    expect(() => defineUntypedSaga({ ...order, stages: [stage, { ...stage, name: "t" }] })).toThrow(
      /more than one pivot/,
    );
  });
});
