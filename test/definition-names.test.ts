// The names a definition gives — entity types, commands, events, projections and their filters,
// sagas, their stages and services — each kind in one grammar (src/core/protocol/identifiers.ts),
// refused when the definition is made with the bad value and the rule, so that a name which
// would be served at `/v1/entities/my%20books`, join an object's name ambiguously or shadow an
// Object.prototype member never reaches a running app.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { Service } from "../cloud/app.js";
import { defineApp } from "../platform.js";
import { defineEntity, event } from "../src/core/model/entity.js";
import { defineProjection } from "../src/core/model/projection.js";
import { defineUntypedSaga, type SagaDefinition, type SagaStage } from "../src/core/model/saga.js";
import { commandNameSchema, entityTypeSchema } from "../src/core/protocol/identifiers.js";
import { notifyOnClose } from "../examples/todo/notify-on-close.js";
import { todoLists } from "../examples/todo/todo-list.js";
import { todoListsProjection } from "../examples/todo/todo-lists-view.js";
import { noopView } from "./support/views.js";

const SEGMENT_RULE = 'must be 1-40 of a-z 0-9 "-", starting with a letter';
const MEMBER_RULE = 'must be 1-64 of A-Z a-z 0-9 "_" "-", starting with a letter';
const PROTOTYPE_RULE = "must not be a member of Object.prototype";
const PROTOTYPE_MEMBERS = ["constructor", "toString", "valueOf", "hasOwnProperty", "isPrototypeOf"];

/** An entity of type `type` with one command and one event, renamed as a case needs. */
function entity(type: string, names: { command?: string; event?: string } = {}) {
  return defineEntity({
    type,
    initialState: { n: 0 },
    commands: { [names.command ?? "go"]: z.object({}).strict() },
    events: { [names.event ?? "Went"]: event<Record<string, never>>() },
    decide: () => [],
    evolve: (s) => s,
  });
}

const view = (name: string, filters: Record<string, z.ZodType<string>> = {}) =>
  defineProjection()({ ...noopView, name, on: {}, filters });

const stage = (name: string): SagaStage<unknown> => ({ name, timeoutMs: 1_000, tasks: () => [] });
const saga = (overrides: Partial<SagaDefinition<unknown>>): SagaDefinition<unknown> => ({
  name: "trip",
  startedBy: { entityType: "trips", eventType: "TripBooked" },
  instanceOf: (fact) => fact.meta.entityId,
  start: () => ({}),
  stages: [stage("book")],
  finallyCompensate: () => [],
  ...overrides,
});
const done: Service = { call: async () => ({ kind: "done", result: null }) };

describe("entity names", () => {
  it("refuses an entity type that is not a lower-case URL segment, naming it and the rule", () => {
    for (const type of ["my books", "a/b", "", "Bücher", "__proto__", "Books", "a:b", "x".repeat(41)])
      expect(() => entity(type)).toThrow(`entity type ${JSON.stringify(type)}: ${SEGMENT_RULE}`);
  });

  it("refuses an entity type named like an Object.prototype member", () => {
    expect(() => entity("constructor")).toThrow(`entity type "constructor": ${PROTOTYPE_RULE}`);
  });

  it("refuses a command name with a space, a separator or no letter first, naming the entity", () => {
    for (const command of ["go now", "a/b", "a.b", "", "1go", "_go", "gö"])
      expect(() => entity("cmds", { command })).toThrow(
        `entity cmds: command name ${JSON.stringify(command)}: ${MEMBER_RULE}`,
      );
  });

  it("refuses a command named like an Object.prototype member", () => {
    for (const command of PROTOTYPE_MEMBERS)
      expect(() => entity("cmds", { command })).toThrow(
        `entity cmds: command name ${JSON.stringify(command)}: ${PROTOTYPE_RULE}`,
      );
  });

  it("refuses an event name with a space or a dot (its CloudEvent type is factline.<type>.<Event>)", () => {
    for (const name of ["Went Away", "Went.Away", "", "__proto__"])
      expect(() => entity("evs", { event: name })).toThrow(
        `entity evs: event name ${JSON.stringify(name)}: ${MEMBER_RULE}`,
      );
  });

  it("refuses an event named like an Object.prototype member", () => {
    expect(() => entity("evs", { event: "valueOf" })).toThrow(`entity evs: event name "valueOf": ${PROTOTYPE_RULE}`);
  });

  it("accepts camelCase, kebab-case and snake_case commands and PascalCase events", () => {
    for (const command of ["markDone", "mark-done", "mark_done", "go"])
      expect(() => entity("cmds", { command })).not.toThrow();
    expect(() => entity("evs", { event: "ItemMarkedDone" })).not.toThrow();
  });

  it("refuses, in defineApp, an entity whose type was changed after defineEntity checked it", () => {
    expect(() => defineApp({ entities: [{ ...todoLists, type: "my lists" }], projections: [] })).toThrow(
      `entity type "my lists": ${SEGMENT_RULE}`,
    );
  });

  it("accepts only names a URL carries as they are, with no percent-encoding", () => {
    const accepted = (schema: z.ZodType<string>) => (name: string) => schema.safeParse(name).success;
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (name) => {
        if (accepted(entityTypeSchema)(name) || accepted(commandNameSchema)(name))
          expect(encodeURIComponent(name)).toBe(name);
      }),
    );
  });
});

describe("projection names", () => {
  it("refuses a projection name that is not a lower-case URL segment, naming it and the rule", () => {
    for (const name of ["a/b", "", "a:b", "Orders", "my view"])
      expect(() => view(name)).toThrow(`projection name ${JSON.stringify(name)}: ${SEGMENT_RULE}`);
  });

  it("refuses a projection named like an Object.prototype member", () => {
    expect(() => view("constructor")).toThrow(`projection name "constructor": ${PROTOTYPE_RULE}`);
  });

  it("refuses a filter name that is no plain query parameter name", () => {
    for (const name of ["__proto__", "a b", "a&b"])
      expect(() => view("things", { [name]: z.string() })).toThrow(
        `projection things: filter name ${JSON.stringify(name)}: ${MEMBER_RULE}`,
      );
  });

  it("refuses, in defineApp, a projection spread into a new object with a bad name", () => {
    for (const name of ["a/b", ""])
      expect(() => defineApp({ entities: [todoLists], projections: [{ ...todoListsProjection, name }] })).toThrow(
        `projection name ${JSON.stringify(name)}: ${SEGMENT_RULE}`,
      );
  });
});

describe("saga names", () => {
  it("refuses two stages with one name (a stage's timeout is overridden by its name)", () => {
    expect(() => defineUntypedSaga(saga({ stages: [stage("book"), stage("book")] }))).toThrow(
      "saga trip has two stages named book",
    );
  });

  it("refuses a stage name that is not lower-case letters, digits and '-'", () => {
    for (const name of ["Book", "book now", "", "constructor"])
      expect(() => defineUntypedSaga(saga({ stages: [stage(name)] }))).toThrow(
        `saga trip: stage name ${JSON.stringify(name)}: `,
      );
  });

  it("refuses a declared service name that is not lower-case letters, digits and '-'", () => {
    expect(() => defineUntypedSaga(saga({ services: ["Mail Out"] }))).toThrow(
      `saga trip: service name "Mail Out": ${SEGMENT_RULE}`,
    );
  });

  it("refuses, in defineApp, a saga spread into a new object with a bad name", () => {
    const services = { notifier: done };
    expect(() =>
      defineApp({ entities: [todoLists], projections: [], sagas: [{ ...notifyOnClose, name: "a:b" }], services }),
    ).toThrow(`saga name "a:b": ${SEGMENT_RULE}`);
  });

  it("refuses, in defineApp, a service whose name is not lower-case letters, digits and '-'", () => {
    expect(() => defineApp({ entities: [], projections: [], services: { "mail out": done } })).toThrow(
      `service name "mail out": ${SEGMENT_RULE}`,
    );
  });
});
