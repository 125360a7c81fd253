// The entity definition API: what a team writes to get an event-sourced actor. Plain data and
// pure functions only: `decide(state, command) → events | rejection`, `evolve(state, event) →
// state`. Persistence, concurrency, transport and retries belong to the runtime, not here.
import type { z } from "zod";
import type { FieldError } from "../http/problem.js";
import { checkName, MEMBER_NAME, SEGMENT_NAME } from "../protocol/names.js";
import { ownValue } from "./own-keys.js";
import { jsonIssue } from "./plain-json.js";

export interface DomainEvent<T extends string = string, D = unknown> {
  readonly type: T;
  readonly data: D;
}

/**
 * A business-rule refusal: records nothing, is answered 422, and is safe to retry. `C` is the
 * union of codes a `decide` can produce: `defineEntity` infers it from its `reject(...)` calls, so
 * test kits and sagas can only name codes that exist.
 */
export interface Rejection<C extends string = string> {
  readonly rejected: true;
  /** Stable, machine-readable reason, e.g. "insufficient-stock". */
  readonly code: C;
  readonly detail: string;
}

/** A refusal with the literal `code` kept in its type (see Rejection). */
export function reject<const C extends string>(code: C, detail: string): Rejection<C> {
  return { rejected: true, code, detail };
}

export function isRejection(value: unknown): value is Rejection {
  return typeof value === "object" && value !== null && (value as Rejection).rejected === true;
}

/**
 * One event type of an entity: its data type `D` (compile time only), its current version and how
 * to lift older payloads. Build it with `event<D>()`.
 */
export interface EventSpec<D = unknown> {
  /** The version new events of this type are written at (default 1, a whole number). */
  readonly version?: number;
  /**
   * `upcast[n]` turns a payload stored at version n into version n + 1: one for every n below
   * `version` (`defineEntity` refuses a definition missing one). A step that throws or returns
   * undefined makes the events it lifts unfoldable (`UnfoldableEvent`, reason `upcast-failed`).
   */
  readonly upcast?: Readonly<Record<number, (data: unknown) => unknown>>;
  /** Never set: carries `D` so that sagas, projections and kits know the event's data type. */
  readonly __data?: D;
}

/**
 * Declares an event type whose data is `D`, e.g. `Reserved: event<{ orderId: string; quantity: number }>()`.
 * The data is the entity's own output (its `decide`), so a type suffices; old stored versions are
 * lifted by `upcast` before anything reads them.
 */
export function event<D>(spec: Omit<EventSpec<D>, "__data"> = {}): EventSpec<D> {
  return spec;
}

/** An entity's command schemas, by command name. */
export type CommandSchemas = Record<string, z.ZodType>;
/** An entity's event declarations, by event name. */
export type EventSpecs = Record<string, EventSpec<unknown>>;

/** The data type an `EventSpec` declares. */
export type DataOf<X> = X extends EventSpec<infer D> ? D : never;

/** The union of an entity's events, `{ type, data }`, from its `events` declaration. */
export type EventsOf<EV extends EventSpecs> = {
  [K in keyof EV & string]: DomainEvent<K, DataOf<EV[K]>>;
}[keyof EV & string];

/** The union of an entity's parsed commands, `{ type, data }`, data being each schema's output. */
export type CommandOf<CS extends CommandSchemas> = {
  [K in keyof CS & string]: { readonly type: K; readonly data: z.output<CS[K]> };
}[keyof CS & string];

/**
 * What a team writes for one entity type. `T` is its type name, `S` its state, `CS` its command
 * schemas, `EV` its event declarations, `R` the rejection codes `decide` can produce and `I` its
 * internal commands' names (all inferred by `defineEntity`).
 */
export interface EntityDefinition<
  T extends string,
  S,
  CS extends CommandSchemas,
  EV extends EventSpecs,
  R extends string = string,
  I extends keyof CS & string = keyof CS & string,
> {
  /** The `{type}` segment of the entity's URL, e.g. "inventory". */
  readonly type: T;
  readonly initialState: S;
  /** One schema per command name: the anti-corruption layer at the boundary. */
  readonly commands: CS;
  /**
   * Commands only the platform may send (sagas over RPC, platform routes such as a payment's
   * settle route); the tenant API answers them 404, exactly as a command that does not exist, and
   * the API document leaves them out. Every other command is public. Default: none.
   */
  readonly internal?: readonly I[];
  /** One `event<Data>()` per event type the entity records. */
  readonly events: EV;
  /**
   * The events a command records, or a rejection. Their data is stored as JSON and read back on
   * every restart, so it must be plain JSON (`src/core/model/plain-json.ts`): a command deciding
   * anything else (a Date, an undefined field, NaN, a Map…) is refused with 500
   * `event-data-not-json` and records nothing.
   */
  decide(state: S, command: CommandOf<CS>): readonly EventsOf<EV>[] | Rejection<R>;
  /** The state after `event`; never undefined (the runtime refuses to fold on: `UnfoldableEvent`). */
  evolve(state: S, event: EventsOf<EV>): S;
  /** Take a snapshot every this many events (default 100). */
  readonly snapshotEvery?: number;
  /** Bump when `evolve` or the state shape changes, so older snapshots are ignored. */
  readonly stateVersion?: number;
}

export type ParsedCommand =
  | { readonly ok: true; readonly command: DomainEvent }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

/** The type-erased face of an entity definition that the runtime works with. */
export interface EntityType {
  readonly type: string;
  readonly commandNames: readonly string[];
  /** The commands a tenant may send over HTTP (commandNames less the internal ones). */
  readonly publicCommandNames: readonly string[];
  /** true when `name` is one of the entity's commands and a tenant may send it over HTTP. */
  isPublicCommand(name: string): boolean;
  readonly eventTypes: readonly string[];
  readonly snapshotEvery: number;
  readonly stateVersion: number;
  commandSchema(name: string): z.ZodType | undefined;
  /** undefined when the entity has no such command. */
  parseCommand(name: string, body: unknown): ParsedCommand | undefined;
  initialState(): unknown;
  decide(state: unknown, command: DomainEvent): readonly DomainEvent[] | Rejection;
  /** The definition's `evolve`; throws `UnfoldableEvent` for an undeclared event type or an undefined result. */
  evolve(state: unknown, event: DomainEvent & { readonly seq?: number }): unknown;
  /** The version new events of `eventType` are written at. */
  eventVersion(eventType: string): number;
  /**
   * Lift a stored payload to the current version of its type; throws `UnfoldableEvent` (reason
   * `upcast-failed`, naming `seq` when given) when a step throws or returns undefined.
   */
  upcast(eventType: string, storedVersion: number, data: unknown, seq?: number): unknown;
  /** `evolve` over `events` from `from` (default: the initial state); throws `UnfoldableEvent` as `evolve` does. */
  fold(events: Iterable<DomainEvent & { readonly seq?: number }>, from?: unknown): unknown;
}

/**
 * An event the entity's definition cannot fold into a state: its type is not one the definition
 * declares (a stored event whose type was renamed or removed in code: upcasters lift versions of
 * a declared type, never another name; or an event `decide` made up), `evolve` returned
 * undefined for it, or its stored payload cannot be lifted to its type's current version (an
 * upcaster threw or returned undefined). The domain's bug, never a client's: folding on would
 * answer a state without the event (or no state at all), so the runtime answers 500
 * `state-unfoldable` (`unfoldableProblem`), records nothing and writes no snapshot.
 */
export class UnfoldableEvent extends Error {
  constructor(
    readonly entityType: string,
    readonly eventType: string,
    /** The event's seq in the log (the one it would have had, for a decided event); null when not known. */
    readonly seq: number | null,
    readonly reason: "undeclared" | "evolve-undefined" | "upcast-failed",
    /** For `upcast-failed`: which step failed and how. */
    detail = "",
  ) {
    const at = `${eventType}${seq === null ? "" : ` (seq ${seq})`}`;
    super(
      reason === "undeclared"
        ? `${at} is not an event type of ${entityType}`
        : reason === "evolve-undefined"
          ? `evolve returned undefined for ${at}`
          : `${at} cannot be lifted to its current version: ${detail}`,
    );
    this.name = "UnfoldableEvent";
  }
}

/** A zod error as the problem document's field errors (`path` dotted, "(body)" for the root). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message,
  }));
}

/**
 * Field errors as one line a person reads (`amount: Too big…; items.0.sku: …`), for reasons that
 * end up in logs, saga histories and views, where a JSON dump of the errors would be noise.
 */
export function describeFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join("; ") || "invalid";
}

/**
 * An entity as the runtime sees it (`EntityType`), keeping its definition's types for the code
 * that references it across files: sagas (`SagaCommand`), projections (`defineProjection`) and
 * the test kits.
 */
export type Entity<
  T extends string,
  S,
  CS extends CommandSchemas,
  EV extends EventSpecs,
  R extends string,
  I extends keyof CS & string = keyof CS & string,
> = EntityType & {
  readonly type: T;
  readonly definition: EntityDefinition<T, S, CS, EV, R, I>;
};

// `decide` takes the state and command as parameters, so only `never` there accepts every entity.
/** Any entity, whatever its types: the constraint of code generic over entities. */
export type AnyEntity = EntityType & {
  readonly type: string;
  readonly definition: {
    readonly type: string;
    readonly commands: CommandSchemas;
    readonly events: EventSpecs;
    decide(state: never, command: never): readonly DomainEvent[] | Rejection;
  };
};

/** The type name of an entity, e.g. "inventory". */
export type TypeNameOf<X extends AnyEntity> = X["definition"]["type"];
/** The command schemas of an entity, by command name. */
export type CommandsOf<X extends AnyEntity> = X["definition"]["commands"];
/** The command names of an entity. */
export type CommandNameOf<X extends AnyEntity> = keyof CommandsOf<X> & string;
/** The names of an entity's internal commands (its definition's `internal`), which only the platform may send. */
export type InternalCommandNameOf<X extends AnyEntity> = X["definition"] extends {
  readonly internal?: readonly (infer I)[];
}
  ? I & string
  : never;
/** The commands a tenant may send over HTTP: the typed HTTP clients offer these alone (the API answers the rest 404). */
export type PublicCommandNameOf<X extends AnyEntity> = Exclude<CommandNameOf<X>, InternalCommandNameOf<X>>;
/** What a sender may put in a command's body (the schema's input: defaults may be left out). */
export type CommandBody<X extends AnyEntity, K extends CommandNameOf<X>> = z.input<CommandsOf<X>[K]>;
/** The event names of an entity. */
export type EventNameOf<X extends AnyEntity> = keyof X["definition"]["events"] & string;
/** The data of one event type of an entity. */
export type EventDataOf<X extends AnyEntity, K extends EventNameOf<X>> = DataOf<X["definition"]["events"][K]>;
/** The rejection codes an entity's `decide` can produce. */
export type RejectionCodeOf<X extends AnyEntity> =
  Exclude<ReturnType<X["definition"]["decide"]>, readonly DomainEvent[]> extends Rejection<infer C> ? C : never;

/**
 * Throws unless the entity's type, command and event names are in their grammars
 * (`entityTypeSchema`, `commandNameSchema`, `eventNameSchema`), naming the bad one and the rule:
 * each becomes part of a URL, an operation id or a recorded fact.
 */
export function checkEntityNames(entity: Pick<EntityType, "type" | "commandNames" | "eventTypes">): void {
  checkName("entity type", SEGMENT_NAME, entity.type);
  for (const name of entity.commandNames) checkName(`entity ${entity.type}: command name`, MEMBER_NAME, name);
  for (const name of entity.eventTypes) checkName(`entity ${entity.type}: event name`, MEMBER_NAME, name);
}

/**
 * Throws unless `eventType` is an event one of `entities` declares, naming the value, what refers
 * to it (`kind`: a saga's trigger or abort, a projection's handler) and the events they declare,
 * e.g. `saga trip: startedBy event "TripBokked": not an event of trips (declared: TripBooked)`.
 * A reference to any other name (a typo, a renamed event, `toString`) would never see a fact: the
 * compiler catches it in typed definitions, this in untyped and JavaScript ones.
 */
export function checkDeclaredEvent(
  kind: string,
  entities: readonly Pick<EntityType, "type" | "eventTypes">[],
  eventType: unknown,
): void {
  if (typeof eventType === "string" && entities.some((entity) => entity.eventTypes.includes(eventType))) return;
  const declared = entities.flatMap((entity) => entity.eventTypes);
  const of =
    entities.length === 0
      ? "any entity (none followed)"
      : `${entities.map((entity) => entity.type).join(" or ")} (declared: ${declared.join(", ") || "none"})`;
  throw new Error(`${kind} event ${JSON.stringify(eventType)}: not an event of ${of}`);
}

/**
 * Checks an entity definition and gives the runtime its type-erased face. Throws when a name is
 * outside its grammar (checkEntityNames), an `internal` command is not a command, or
 * `initialState` is not plain JSON (it is stored in snapshots and must read back as it was:
 * `new Date(0)` would come back a string). The
 * definition's types stay on the result (see Entity).
 */
export function defineEntity<
  const T extends string,
  S,
  CS extends CommandSchemas,
  EV extends EventSpecs,
  R extends string = never,
  const I extends keyof CS & string = never,
>(definition: EntityDefinition<T, S, CS, EV, R, I>): Entity<T, S, CS, EV, R, I> {
  const specs: Readonly<Record<string, EventSpec>> = definition.events;
  const commandSchemas: Readonly<Record<string, z.ZodType>> = definition.commands;
  // Snapshots are stored as JSON, so the initial state must survive a round trip unchanged.
  const initialIssue = jsonIssue(definition.initialState, "initialState");
  if (initialIssue !== null) throw new Error(`${definition.type}: initialState is not plain JSON: ${initialIssue}`);
  const initialJson = JSON.stringify(definition.initialState);
  const initialState = (): unknown => JSON.parse(initialJson) as unknown;
  const commandSchema = (name: string): z.ZodType | undefined => ownValue(commandSchemas, name);
  const specOf = (eventType: string): EventSpec | undefined => ownValue(specs, eventType);
  // The runtime hands over what it read from the log (upcast to the current version) or decided,
  // of a declared type (checked here): the one place the erased face meets the typed definition.
  const evolve = (state: unknown, event: DomainEvent & { readonly seq?: number }): unknown => {
    if (!Object.hasOwn(specs, event.type))
      throw new UnfoldableEvent(definition.type, event.type, event.seq ?? null, "undeclared");
    const next = definition.evolve(state as S, event as EventsOf<EV>);
    if (next === undefined)
      throw new UnfoldableEvent(definition.type, event.type, event.seq ?? null, "evolve-undefined");
    return next;
  };
  const commandNames = Object.keys(commandSchemas);
  const eventTypes = Object.keys(specs);
  checkEntityNames({ type: definition.type, commandNames, eventTypes });
  for (const name of eventTypes) checkUpcasters(definition.type, name, specs[name]);
  const internal = new Set<string>(definition.internal ?? []);
  for (const name of internal) {
    if (!Object.hasOwn(commandSchemas, name))
      throw new Error(`${definition.type}: internal command ${name} is not a command`);
  }
  const publicCommandNames = commandNames.filter((name) => !internal.has(name));

  return {
    definition,
    type: definition.type,
    commandNames,
    publicCommandNames,
    isPublicCommand: (name) => publicCommandNames.includes(name),
    eventTypes,
    snapshotEvery: definition.snapshotEvery ?? 100,
    stateVersion: definition.stateVersion ?? 1,
    commandSchema,
    parseCommand(name, body) {
      const schema = commandSchema(name);
      if (!schema) return undefined;
      const parsed = schema.safeParse(body);
      return parsed.success
        ? { ok: true, command: { type: name, data: parsed.data } }
        : { ok: false, errors: fieldErrors(parsed.error) };
    },
    initialState,
    decide: (state, command) => definition.decide(state as S, command as CommandOf<CS>),
    evolve,
    eventVersion: (eventType) => specOf(eventType)?.version ?? 1,
    upcast(eventType, storedVersion, data, seq) {
      const spec = specOf(eventType);
      const target = spec?.version ?? 1;
      let lifted = data;
      for (let v = storedVersion; v < target; v++) {
        const failed = (how: string) =>
          new UnfoldableEvent(definition.type, eventType, seq ?? null, "upcast-failed", `v${v} → v${v + 1}${how}`);
        // Only an undeclared type (already unfoldable) or a stored version below 1 reaches a missing step.
        const step = spec?.upcast && Object.hasOwn(spec.upcast, v) ? spec.upcast[v] : undefined;
        if (!step) throw failed(" has no upcaster");
        try {
          lifted = step(lifted);
        } catch (error) {
          throw failed(`: its upcaster threw: ${error instanceof Error ? error.message : String(error)}`);
        }
        if (lifted === undefined) throw failed(": its upcaster returned undefined");
      }
      return lifted;
    },
    fold(events, from) {
      let state = from ?? initialState();
      for (const event of events) state = evolve(state, event);
      return state;
    },
  };
}

/**
 * Refuses an event spec whose version is not a whole number ≥ 1, or that lacks the upcaster of a
 * version below it: a stored payload of that version could never be lifted, and the entity would
 * answer 500 `state-unfoldable` only once such an event is read, long after the deploy.
 */
function checkUpcasters(entityType: string, eventType: string, spec: EventSpec | undefined): void {
  const version = spec?.version ?? 1;
  if (!Number.isInteger(version) || version < 1)
    throw new Error(`${entityType}: event ${eventType} has version ${version}; a version is a whole number from 1`);
  for (let v = 1; v < version; v++) {
    if (!(spec?.upcast && Object.hasOwn(spec.upcast, v) && typeof spec.upcast[v] === "function"))
      throw new Error(
        `${entityType}: event ${eventType} is at version ${version} but has no upcast[${v}] (v${v} → v${v + 1})`,
      );
  }
}

/**
 * The set of entity types a deployment serves, looked up by their URL segment. Throws when two
 * share a type, or a name is outside its grammar (checkEntityNames: an entity built without
 * `defineEntity` is checked here).
 */
export class EntityRegistry {
  readonly #types: ReadonlyMap<string, EntityType>;

  constructor(types: readonly EntityType[]) {
    const map = new Map<string, EntityType>();
    for (const t of types) {
      checkEntityNames(t);
      if (map.has(t.type)) throw new Error(`entity type registered twice: ${t.type}`);
      map.set(t.type, t);
    }
    this.#types = map;
  }

  get(type: string): EntityType | undefined {
    return this.#types.get(type);
  }

  all(): EntityType[] {
    return [...this.#types.values()];
  }
}
