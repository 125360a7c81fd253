// A given-when-then kit for entity definitions: given these past events, when this command
// (validated by the entity's own schema, as at the HTTP boundary), then these new events or this
// rejection. Framework-free: a failed expectation throws with both sides spelled out.
import {
  isRejection,
  type CommandOf,
  type DomainEvent,
  type EntityDefinition,
  type EntityType,
  type Rejection,
} from "../core/entity.js";
import { canonicalJson } from "../core/fingerprint.js";

type Defined<S, CS extends Record<string, import("zod").ZodType>, E extends DomainEvent> = EntityType & {
  readonly definition: EntityDefinition<S, CS, E>;
};

export interface Outcome<S, E> {
  /** The events decided, or the rejection. */
  readonly decision: readonly E[] | Rejection;
  /** The state after the given events and (if accepted) the new ones. */
  readonly state: S;
  expectEvents(expected: readonly E[]): Outcome<S, E>;
  expectRejection(code: string): Outcome<S, E>;
  expectState(expected: Partial<S>): Outcome<S, E>;
}

export function scenario<S, CS extends Record<string, import("zod").ZodType>, E extends DomainEvent>(entity: Defined<S, CS, E>) {
  const def = entity.definition;
  return {
    given(...history: E[]) {
      const before = history.reduce<S>((state, event) => def.evolve(state, event), structuredClone(def.initialState));
      return {
        when<K extends keyof CS & string>(command: K, body: unknown): Outcome<S, E> {
          const parsed = entity.parseCommand(command, body);
          if (!parsed) throw new Error(`${def.type} has no command ${command}`);
          if (!parsed.ok) throw new Error(`invalid ${command}: ${JSON.stringify(parsed.errors)}`);
          const decision = def.decide(before, parsed.command as CommandOf<CS>);
          const state = isRejection(decision) ? before : decision.reduce<S>((s, e) => def.evolve(s, e), before);
          return outcome(decision, state);
        },
      };
    },
  };
}

function outcome<S, E>(decision: readonly E[] | Rejection, state: S): Outcome<S, E> {
  const self: Outcome<S, E> = {
    decision,
    state,
    expectEvents(expected) {
      if (isRejection(decision)) fail(`expected events ${show(expected)}, got rejection ${decision.code}: ${decision.detail}`);
      else if (canonicalJson(decision) !== canonicalJson(expected)) fail(`expected events ${show(expected)}, got ${show(decision)}`);
      return self;
    },
    expectRejection(code) {
      if (!isRejection(decision)) fail(`expected rejection ${code}, got events ${show(decision)}`);
      else if (decision.code !== code) fail(`expected rejection ${code}, got ${decision.code}: ${decision.detail}`);
      return self;
    },
    expectState(expected) {
      const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, (state as Record<string, unknown>)[k]]));
      if (canonicalJson(actual) !== canonicalJson(expected)) fail(`expected state ${show(expected)}, got ${show(actual)}`);
      return self;
    },
  };
  return self;
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

function fail(message: string): never {
  throw new Error(message);
}
