// What a definition refers to and sets beyond its names: the events that start or abort a saga
// and those a projection handles must be events of its entities, a stage's timeout is whole ms
// from 1 to a day, and a saga declares each service once. Typed definitions get most of this from
// the compiler (test/types/references.ts); these checks refuse untyped and JavaScript ones when
// they are defined (`defineSaga`, `defineUntypedSaga`, `defineProjection`) and again in
// `defineApp`, with an error naming the bad value.
import { describe, expect, it } from "vitest";
import type { Service } from "../cloud/app.js";
import { defineApp } from "../platform.js";
import { defineProjection } from "../src/core/model/projection.js";
import { defineSaga, defineUntypedSaga, type SagaDefinition } from "../src/core/model/saga.js";
import { readConfig } from "../src/core/runtime/config.js";
import { notifyOnClose } from "../examples/todo/notify-on-close.js";
import { todoLists } from "../examples/todo/todo-list.js";
import { todoListsProjection } from "../examples/todo/todo-lists-view.js";
import { noopView } from "./support/views.js";

const DECLARED = "declared: ItemAdded, ItemCompleted, ListClosed";
const services = { notifier: { call: async () => ({ kind: "done", result: null }) } satisfies Service };

const stage = (timeoutMs: number) => ({ name: "notify", timeoutMs, tasks: () => [] });
/** An untyped saga over todo-lists, as JavaScript would write it. */
const untyped = (overrides: Partial<SagaDefinition<unknown, "notifier">>): SagaDefinition<unknown, "notifier"> => ({
  name: "on-close",
  startedBy: { entityType: "todo-lists", eventType: "ListClosed" },
  instanceOf: (fact) => fact.meta.entityId,
  start: () => ({}),
  stages: [stage(1_000)],
  finallyCompensate: () => [],
  ...overrides,
});
/** A typed saga over todo-lists whose abort handlers are `abortOn` (names asserted, as JavaScript's go unchecked). */
const typedAbortingOn = (abortOn: Record<string, Record<string, () => string>>) =>
  defineSaga(todoLists)({
    name: "on-close",
    startedBy: { entityType: "todo-lists", eventType: "ListClosed" },
    instanceOf: (fact) => fact.meta.entityId,
    start: () => ({}),
    stages: [stage(1_000)],
    abortOn: abortOn as { "todo-lists": Record<"ListClosed", () => string> },
    finallyCompensate: () => [],
  });
/** A projection over todo-lists with one handler, keyed `event` (asserted, as JavaScript's go unchecked). */
const viewHandling = (event: string) =>
  defineProjection(todoLists)({ ...noopView, name: "handled", on: { [event as "ListClosed"]: () => [] } });

describe("saga triggers", () => {
  it("refuses, in defineApp, an untyped saga started by an event its entity does not declare", () => {
    const saga = defineUntypedSaga(untyped({ startedBy: { entityType: "todo-lists", eventType: "ListClosd" } }));
    expect(() => defineApp({ entities: [todoLists], projections: [], sagas: [saga], services })).toThrow(
      `saga on-close: startedBy event "ListClosd": not an event of todo-lists (${DECLARED})`,
    );
  });

  it("refuses, in defineSaga, a trigger its entity does not declare", () => {
    expect(() =>
      defineSaga(todoLists)({
        name: "on-close",
        startedBy: { entityType: "todo-lists", eventType: "toString" as "ListClosed" },
        instanceOf: (fact) => fact.meta.entityId,
        start: () => ({}),
        stages: [stage(1_000)],
        finallyCompensate: () => [],
      }),
    ).toThrow(`saga on-close: startedBy event "toString": not an event of todo-lists (${DECLARED})`);
  });

  it("refuses, in defineSaga, an abort on an event its entity does not declare", () => {
    for (const name of ["ListClosd", "toString"])
      expect(() => typedAbortingOn({ "todo-lists": { [name]: () => "stop" } })).toThrow(
        `saga on-close: abortOn todo-lists event ${JSON.stringify(name)}: not an event of todo-lists (${DECLARED})`,
      );
  });

  it("refuses, in defineSaga, an abort on an entity type the saga does not list", () => {
    expect(() => typedAbortingOn({ orders: { OrderCancelled: () => "stop" } })).toThrow(
      'saga on-close: abortOn entity type "orders": not one the saga lists',
    );
  });
});

describe("projection handlers", () => {
  it("refuses, in defineProjection, a handler for an event no followed entity declares", () => {
    expect(() => viewHandling("ListClosd")).toThrow(
      `projection handled: on event "ListClosd": not an event of todo-lists (${DECLARED})`,
    );
  });

  it("refuses, in defineProjection, a handler named like an Object.prototype member", () => {
    for (const name of ["toString", "constructor", "hasOwnProperty"])
      expect(() => viewHandling(name)).toThrow(`projection handled: on event ${JSON.stringify(name)}: not an event`);
  });

  it("refuses a handler in a projection that follows no entity", () => {
    expect(() => defineProjection()({ ...noopView, name: "handled", on: { ListClosed: () => [] } })).toThrow(
      'projection handled: on event "ListClosed": not an event of any entity (none followed)',
    );
  });

  it("refuses, in defineApp, a projection given a handler after defineProjection checked it", () => {
    const on = { ...todoListsProjection.on, ItemRemoved: () => [] };
    expect(() => defineApp({ entities: [todoLists], projections: [{ ...todoListsProjection, on }] })).toThrow(
      `projection todo-lists: on event "ItemRemoved": not an event of todo-lists (${DECLARED})`,
    );
  });
});

describe("stage timeouts", () => {
  const OUT_OF_RANGE = [Number.NaN, -1, 0, 0.5, 1_500.5, Number.POSITIVE_INFINITY, 86_400_001];

  it("refuses a stage timeout that is not whole ms from 1 to a day, naming it", () => {
    for (const timeoutMs of OUT_OF_RANGE)
      expect(() => defineUntypedSaga(untyped({ stages: [stage(timeoutMs)] }))).toThrow(
        `saga on-close: stage notify timeoutMs ${String(timeoutMs)}: must be whole ms from 1 to 86400000 (a day)`,
      );
  });

  it("accepts a stage timeout exactly when SAGA_STAGE_TIMEOUTS accepts it as an override", () => {
    for (const timeoutMs of [...OUT_OF_RANGE.filter(Number.isFinite), 1, 30_000, 86_400_000]) {
      const overridden = readConfig({ SAGA_STAGE_TIMEOUTS: JSON.stringify({ notify: timeoutMs }) }).errors.length === 0;
      const declared = (() => {
        try {
          defineUntypedSaga(untyped({ stages: [stage(timeoutMs)] }));
          return true;
        } catch {
          return false;
        }
      })();
      expect({ timeoutMs, declared }).toEqual({ timeoutMs, declared: overridden });
    }
  });

  it("refuses, in defineApp, a saga given a stage timeout after it was defined", () => {
    const saga = { ...notifyOnClose, stages: notifyOnClose.stages.map((s) => ({ ...s, timeoutMs: 0 })) };
    expect(() => defineApp({ entities: [todoLists], projections: [], sagas: [saga], services })).toThrow(
      "saga notify-on-close: stage notify timeoutMs 0: must be whole ms from 1 to 86400000 (a day)",
    );
  });
});

describe("declared services", () => {
  it("refuses a saga declaring one service twice", () => {
    expect(() => defineUntypedSaga(untyped({ services: ["notifier", "notifier"] }))).toThrow(
      "saga on-close declares service notifier twice",
    );
  });

  it("refuses, in defineApp, a saga given a service twice after it was defined", () => {
    const saga = { ...notifyOnClose, services: ["notifier", "notifier"] as const };
    expect(() => defineApp({ entities: [todoLists], projections: [], sagas: [saga], services })).toThrow(
      "saga notify-on-close declares service notifier twice",
    );
  });
});
