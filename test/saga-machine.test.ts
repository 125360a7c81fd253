// The saga state machine, pure: given the events so far, when something happens, then these
// saga events are recorded or these tasks are due. Uses a small two-stage saga defined here.
import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../src/core/model/envelope.js";
import {
  defineUntypedSaga,
  evolve,
  factEvents,
  NEW_SAGA,
  operatorCompensate,
  operatorRetry,
  outcomeEvents,
  plan,
  type DueTask,
  type SagaEvent,
  type SagaState,
} from "../src/core/model/saga.js";

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

function cmd(entityType: string, command: string, id: string) {
  return { kind: "command" as const, entityType, entityId: id, command, data: {} };
}

const policy = { retry: { maxAttempts: 3, maxCompensationAttempts: 2, baseMs: 10, maxMs: 100 } };

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

/** Records whatever the plan records until tasks are due; returns the state and the due tasks. */
function settle(state: SagaState, now: number): { state: SagaState; due: readonly DueTask[] } {
  let s = state;
  for (;;) {
    const p = plan(trip, s, now, policy);
    if (p.kind === "record") s = fold(p.events, s);
    else return { state: s, due: p.kind === "run" ? p.tasks : [] };
  }
}

function started(now = 0): SagaState {
  return fold(factEvents(trip, NEW_SAGA, "t:trip:trip-1", fact("TripBooked", "e1"), now));
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
    const reusing = defineUntypedSaga({
      ...trip,
      stages: [
        trip.stages[0]!,
        {
          name: "pay",
          timeoutMs: 1_000,
          tasks: (t: { tripId: string }) => [{ key: "hotel", run: cmd("payments", "charge", t.tripId) }],
        },
      ],
    });
    let state = fold(factEvents(reusing, NEW_SAGA, "t:trip:trip-1", fact("TripBooked", "e1"), 0));
    const first = plan(reusing, state, 0, policy);
    state = fold(first.kind === "record" ? first.events : [], state);
    for (const key of ["hotel", "flight"])
      state = fold(
        outcomeEvents(
          state,
          {
            task: { key, run: cmd("hotels", "book", "trip-1") },
            phase: "run",
            action: cmd("hotels", "book", "trip-1"),
          },
          { kind: "done", result: null },
          1,
          10,
        ),
        state,
      );
    const next = plan(reusing, state, 2, policy);
    expect(next).toEqual({
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
    expect(plan(twice, state, 0, policy)).toEqual({
      kind: "record",
      events: [{ type: "AttentionNeeded", error: "stage book repeats task key hotel", at: 0 }],
    });
  });

  it("given final compensating tasks that reuse a stage's task key, turning round stops for attention instead of skipping them", () => {
    const clashing = defineUntypedSaga({
      ...trip,
      finallyCompensate: (t: { tripId: string }) => [{ key: "hotel", run: cmd("trips", "cancel", t.tripId) }],
    });
    let state = fold(factEvents(clashing, NEW_SAGA, "t:trip:trip-1", fact("TripBooked", "e1"), 0));
    const first = plan(clashing, state, 0, policy);
    state = fold(first.kind === "record" ? first.events : [], state);
    expect(operatorCompensate(clashing, state, 1)).toEqual([
      { type: "AttentionNeeded", error: "finallyCompensate repeats task key hotel", at: 1 },
    ]);
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
    expect(plan(trip, state, 999, policy).kind).toBe("run");
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

    state = fold(operatorRetry(state, 50) ?? [], state);
    ({ state, due } = settle(state, 50));
    expect(state.status).toBe("compensating");
    expect(due.map((d) => d.phase)).toEqual(["compensate", "compensate"]);
  });

  it("given a running saga, an abort fact or an operator turns it round; a finished saga refuses", () => {
    const { state } = settle(started(), 0);
    const aborted = fold(factEvents(trip, state, "t:trip:trip-1", fact("TripCancelled", "e2"), 1), state);
    expect(aborted).toMatchObject({ status: "compensating", reason: "the traveller cancelled" });
    expect(fold(operatorCompensate(trip, state, 1) ?? [], state).status).toBe("compensating");
    expect(operatorRetry(state, 1)).toBeNull();
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
    const turned = fold(operatorCompensate(trip, state, 1) ?? [], state);
    expect(outcomeEvents(turned, due[0] as DueTask, { kind: "done", result: null }, 2, 10)).toEqual([]);
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

function settlePivoting(state: SagaState, now: number): { state: SagaState; due: readonly DueTask[] } {
  let s = state;
  for (;;) {
    const p = plan(order, s, now, policy);
    if (p.kind === "record") s = fold(p.events, s);
    else return { state: s, due: p.kind === "run" ? p.tasks : [] };
  }
}

/** A saga of `order` whose book stage is done and whose pivot stage (commit) has been entered. */
function atPivot(): { state: SagaState; due: readonly DueTask[] } {
  let { state, due } = settlePivoting(
    fold(factEvents(order, NEW_SAGA, "t:order:trip-1", fact("TripBooked", "e1"), 0)),
    0,
  );
  state = finish(state, due, 1);
  return settlePivoting(state, 1);
}

/** The same saga past its pivot: commit done, deliver due. */
function pastPivot(): { state: SagaState; due: readonly DueTask[] } {
  const { state, due } = atPivot();
  return settlePivoting(finish(state, due, 2), 2);
}

describe("saga state machine: the pivot (point of no return)", () => {
  it("given the pivot stage entered, an abort fact is ignored and the saga carries on", () => {
    const { state, due } = atPivot();
    expect(due.map((d) => d.task.key)).toEqual(["commit"]);
    const after = fold(factEvents(order, state, "t:order:trip-1", fact("TripCancelled", "e2"), 3), state);
    expect(after.status).toBe("running");
    expect(settlePivoting(after, 3).due.map((d) => d.task.key)).toEqual(["commit"]);
  });

  it("given the pivot stage entered, its deadline passing does not turn the saga round", () => {
    const { state } = atPivot();
    const late = settlePivoting(state, 60_000);
    expect(late.state.status).toBe("running");
    expect(late.due.map((d) => d.task.key)).toEqual(["commit"]);
  });

  it("given the pivot's own task refused by its owner, the saga still compensates what came before", () => {
    const { state, due } = atPivot();
    const refused = settlePivoting(finish(state, due, 2, "rejected"), 2);
    expect(refused.state.status).toBe("compensating");
    expect(refused.due.map((d) => [d.task.key, verb(d)])).toEqual([["hotel", "cancel"]]);
  });

  it("given a saga past its pivot, a task that keeps failing escalates to attention and nothing is compensated", () => {
    let { state, due } = pastPivot();
    expect(due.map((d) => d.task.key)).toEqual(["deliver"]);
    for (let now = 100; now <= 300; now += 100) state = finish(state, due, now, "failed");
    ({ state, due } = settlePivoting(state, 400));
    expect(state.status).toBe("attention");
    expect(state.error).toContain("deliver failed 3 times");
    expect(state.compensation).toEqual([]);
    expect(due).toEqual([]);
  });

  it("given a saga past its pivot, a rejected task escalates to attention instead of compensating", () => {
    const { state, due } = pastPivot();
    const after = settlePivoting(finish(state, due, 3, "rejected"), 3).state;
    expect(after.status).toBe("attention");
    expect(after.compensation).toEqual([]);
  });

  it("given a saga that escalated past its pivot, the operator's retry resumes it forward and compensate is refused", () => {
    let { state, due } = pastPivot();
    state = settlePivoting(finish(state, due, 3, "rejected"), 3).state;
    expect(operatorCompensate(order, state, 4)).toBeNull();
    state = fold(operatorRetry(state, 4) ?? [], state);
    ({ state, due } = settlePivoting(state, 4));
    expect(state.status).toBe("running");
    expect(due.map((d) => [d.task.key, d.phase])).toEqual([["deliver", "run"]]);
    state = finish(state, due, 5);
    expect(settlePivoting(state, 5).state.status).toBe("completed");
  });

  it("given a running saga past its pivot, an operator cannot turn it round", () => {
    expect(operatorCompensate(order, pastPivot().state, 3)).toBeNull();
  });

  it("refuses a saga with two pivots", () => {
    const stage = { name: "s", timeoutMs: 1, pivot: true, tasks: () => [] };
    expect(() => defineUntypedSaga({ ...order, stages: [stage, { ...stage, name: "t" }] })).toThrow(
      /more than one pivot/,
    );
  });
});
