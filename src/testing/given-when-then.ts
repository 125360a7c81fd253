// A given-when-then kit for entity definitions: given these past events, when this command
// (validated by the entity's own schema, as at the HTTP boundary), then these new events or this
// rejection. Framework-free: a failed expectation throws with both sides spelled out.
import type { z } from "zod";
import {
  isRejection,
  type CommandOf,
  type CommandSchemas,
  type DomainEvent,
  type Entity,
  type EntityType,
  type EventSpecs,
  type EventsOf,
  type Rejection,
} from "../core/model/entity.js";
import { jsonIssue } from "../core/model/plain-json.js";
import { canonicalJson } from "../core/protocol/fingerprint.js";

/** What `when` came to, with expectations that throw on a mismatch. `R`: the entity's rejection codes. */
export interface Outcome<S, E, R extends string = string> {
  /** The events decided, or the rejection. */
  readonly decision: readonly E[] | Rejection<R>;
  /** The state after the given events and (if accepted) the new ones. */
  readonly state: S;
  expectEvents(expected: readonly E[]): Outcome<S, E, R>;
  /** `code` is checked at compile time against the codes the entity's `decide` can produce. */
  expectRejection(code: R): Outcome<S, E, R>;
  expectState(expected: Partial<S>): Outcome<S, E, R>;
}

/**
 * Given past events (`given(...)`; none when `when` is called straight away), when a command (its
 * body typed as the command schema's input and validated by that schema, as at the HTTP boundary),
 * then events, a rejection or a state. An invalid body, an
 * unknown command, or a decided event whose data is not plain JSON (the runtime refuses such a
 * command: 500 `event-data-not-json`) throws.
 */
export function scenario<T extends string, S, CS extends CommandSchemas, EV extends EventSpecs, R extends string>(
  entity: Entity<T, S, CS, EV, R>,
) {
  const def = entity.definition;
  type E = EventsOf<EV>;
  const given = (...history: E[]) => {
    const before = history.reduce<S>((state, event) => def.evolve(state, event), structuredClone(def.initialState));
    return {
      when<K extends keyof CS & string>(command: K, body: z.input<CS[K]>): Outcome<S, E, R> {
        const parsed = entity.parseCommand(command, body);
        if (!parsed) throw new Error(`${def.type} has no command ${command}`);
        if (!parsed.ok) throw new Error(`invalid ${command}: ${JSON.stringify(parsed.errors)}`);
        const decision = def.decide(before, parsed.command as CommandOf<CS>);
        // As the runtime does (src/core/entity/command-step.ts): such a command is refused, 500.
        for (const event of isRejection(decision) ? [] : decision) {
          const issue = jsonIssue(event.data, "data");
          if (issue !== null)
            fail(
              `${command} decided a ${event.type} event whose data is not plain JSON (${issue}): the runtime refuses it`,
            );
        }
        const state = isRejection(decision) ? before : decision.reduce<S>((s, e) => def.evolve(s, e), before);
        return outcome(decision, state);
      },
    };
  };
  // `when` straight away: a new entity, with no past events.
  return { given, when: given().when };
}

function outcome<S, E, R extends string>(decision: readonly E[] | Rejection<R>, state: S): Outcome<S, E, R> {
  const self: Outcome<S, E, R> = {
    decision,
    state,
    expectEvents(expected) {
      if (isRejection(decision))
        fail(`expected events ${show(expected)}, got rejection ${decision.code}: ${decision.detail}`);
      else if (canonicalJson(decision) !== canonicalJson(expected))
        fail(`expected events ${show(expected)}, got ${show(decision)}`);
      return self;
    },
    expectRejection(code) {
      if (!isRejection(decision)) fail(`expected rejection ${code}, got events ${show(decision)}`);
      else if (decision.code !== code) fail(`expected rejection ${code}, got ${decision.code}: ${decision.detail}`);
      return self;
    },
    expectState(expected) {
      const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, (state as Record<string, unknown>)[k]]));
      if (canonicalJson(actual) !== canonicalJson(expected))
        fail(`expected state ${show(expected)}, got ${show(actual)}`);
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

/**
 * Ids that name members of Object.prototype (and a few that are special to JSON or to property
 * access): a state keyed by client strings through `record[id]` or `id in record` misbehaves on
 * exactly these.
 */
export const ADVERSARIAL_IDS: readonly string[] = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "toLocaleString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "__defineGetter__",
  "__lookupGetter__",
];

/** An ordinary id the adversarial runs are compared with (it must fit the entity's id grammar). */
const BENIGN_ID = "benign-id-7q2x";

/** One sample command of an adversarial-id check: its name and a valid body (typed as the command schema's input). */
export type SampleCommand<CS extends CommandSchemas> = {
  [K in keyof CS & string]: { readonly command: K; readonly body: z.input<CS[K]> };
}[keyof CS & string];

export interface AdversarialIdCheck<S, CS extends CommandSchemas, E> {
  /** Events every run starts from (e.g. stock on hand). */
  readonly given?: readonly E[];
  /**
   * Commands run in order, once per id. Each string field whose value can be replaced by an
   * ordinary id (it still passes the command's schema) is replaced by the id under test.
   */
  readonly commands: readonly SampleCommand<CS>[];
  /** Named properties every state must keep, e.g. `{ "never oversold": (s) => s.available >= 0 }`. */
  readonly invariants?: Readonly<Record<string, (state: S) => boolean>>;
  /** Ids to try; default ADVERSARIAL_IDS. */
  readonly ids?: readonly string[];
}

/**
 * Runs an entity's sample commands with ids such as `__proto__`, `constructor` and `toString`
 * substituted into their string fields, each beside the same run with an ordinary id, and throws
 * (listing every finding) when, at any step:
 * - the state or a decided event is not plain JSON (a function, `undefined`, NaN, a foreign
 *   prototype…), so it would not survive a snapshot or the wire unchanged;
 * - a named invariant is broken;
 * - the decision or the state differs from the ordinary id's run (other events, another rejection,
 *   a command about an unknown id that is silently accepted or ignored): an id must be just a name.
 * A body the command's schema refuses for an adversarial id is fine (the boundary protects) and
 * ends that id's run. Pure and framework-free, like `scenario`.
 */
export function checkAdversarialIds<
  T extends string,
  S,
  CS extends CommandSchemas,
  EV extends EventSpecs,
  R extends string,
>(entity: Entity<T, S, CS, EV, R>, check: AdversarialIdCheck<S, CS, EventsOf<EV>>): void {
  const def = entity.definition;
  const findings: string[] = [];
  const slots = check.commands.map((sample) => substitutable(entity, sample));
  const start = (): S =>
    (check.given ?? []).reduce<S>((state, event) => def.evolve(state, event), structuredClone(def.initialState));

  for (const id of check.ids ?? ADVERSARIAL_IDS) {
    let benign = start();
    let tested = start();
    const as = (json: string) => json.split(BENIGN_ID).join(id);
    for (const [i, sample] of check.commands.entries()) {
      const step = `${def.type}.${sample.command} #${i + 1} with id ${JSON.stringify(id)}`;
      const paths = slots[i] ?? [];
      const plain = entity.parseCommand(sample.command, replaceAt(sample.body, paths, BENIGN_ID));
      const parsed = entity.parseCommand(sample.command, replaceAt(sample.body, paths, id));
      if (!plain?.ok) throw new Error(`${def.type}.${sample.command} #${i + 1}: the sample body is invalid`);
      if (!parsed?.ok) break;
      const expected = def.decide(benign, plain.command as CommandOf<CS>);
      const decision = def.decide(tested, parsed.command as CommandOf<CS>);
      if (!isRejection(decision)) {
        for (const event of decision) {
          const issue = jsonIssue(event.data, `${event.type}.data`);
          if (issue) findings.push(`${step}: decided ${issue}`);
        }
      }
      if (decisionJson(decision) !== as(decisionJson(expected))) {
        findings.push(
          `${step}: decided ${decisionJson(decision)}, where an ordinary id gives ${as(decisionJson(expected))}`,
        );
      }
      if (!isRejection(expected)) benign = expected.reduce<S>((s, e) => def.evolve(s, e), benign);
      if (!isRejection(decision)) tested = decision.reduce<S>((s, e) => def.evolve(s, e), tested);
      const issue = jsonIssue(tested, "state");
      if (issue) findings.push(`${step}: the state is not plain JSON: ${issue}`);
      else if (JSON.stringify(tested) !== as(JSON.stringify(benign))) {
        findings.push(
          `${step}: the state became ${JSON.stringify(tested)}, where an ordinary id gives ${as(JSON.stringify(benign))}`,
        );
      }
      for (const [name, holds] of Object.entries(check.invariants ?? {})) {
        if (!holds(tested)) findings.push(`${step}: breaks the invariant "${name}" in ${JSON.stringify(tested)}`);
      }
    }
  }
  if (findings.length > 0) {
    const shown = findings.slice(0, 20);
    const more = findings.length > shown.length ? `\n… and ${findings.length - shown.length} more` : "";
    fail(`adversarial ids break ${def.type}:\n- ${shown.join("\n- ")}${more}`);
  }
}

type Path = readonly (string | number)[];

/** The paths of the sample's string fields that still pass the schema when given an ordinary id. */
function substitutable<CS extends CommandSchemas>(entity: EntityType, sample: SampleCommand<CS>): Path[] {
  return stringPaths(sample.body).filter(
    (path) => entity.parseCommand(sample.command, replaceAt(sample.body, [path], BENIGN_ID))?.ok === true,
  );
}

function stringPaths(value: unknown, at: Path = []): Path[] {
  if (typeof value === "string") return [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...at, i]));
  if (value !== null && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...at, k]));
  return [];
}

function replaceAt(value: unknown, paths: readonly Path[], id: string, at: Path = []): unknown {
  if (paths.some((p) => p.length === at.length && p.every((part, i) => part === at[i]))) return id;
  if (Array.isArray(value)) return value.map((v, i) => replaceAt(v, paths, id, [...at, i]));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceAt(v, paths, id, [...at, k])]));
  }
  return value;
}

function decisionJson(decision: readonly DomainEvent[] | Rejection): string {
  return isRejection(decision) ? `rejection ${decision.code}` : `events ${JSON.stringify(decision)}`;
}
