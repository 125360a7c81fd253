// The entity definition API: what a team writes to get an event-sourced actor. Plain data and
// pure functions only: `decide(state, command) → events | rejection`, `evolve(state, event) →
// state`. Persistence, concurrency, transport and retries belong to the runtime, not here.
import type { z } from "zod";
import type { FieldError } from "./problem.js";

export interface DomainEvent<T extends string = string, D = unknown> {
  readonly type: T;
  readonly data: D;
}

/** A business-rule refusal: records nothing, is answered 422, and is safe to retry. */
export interface Rejection {
  readonly rejected: true;
  /** Stable, machine-readable reason, e.g. "insufficient-stock". */
  readonly code: string;
  readonly detail: string;
}

export function reject(code: string, detail: string): Rejection {
  return { rejected: true, code, detail };
}

export function isRejection(value: unknown): value is Rejection {
  return typeof value === "object" && value !== null && (value as Rejection).rejected === true;
}

/** Schema evolution of one event type: its current version and how to lift older payloads. */
export interface EventSpec {
  /** The version new events of this type are written at (default 1). */
  readonly version?: number;
  /** `upcast[n]` turns a payload stored at version n into version n + 1. */
  readonly upcast?: Readonly<Record<number, (data: unknown) => unknown>>;
}

type CommandSchemas = Record<string, z.ZodType>;

export type CommandOf<CS extends CommandSchemas> = {
  [K in keyof CS & string]: { readonly type: K; readonly data: z.output<CS[K]> };
}[keyof CS & string];

export interface EntityDefinition<S, CS extends CommandSchemas, E extends DomainEvent> {
  /** The `{type}` segment of the entity's URL, e.g. "inventory". */
  readonly type: string;
  readonly initialState: S;
  /** One schema per command name: the anti-corruption layer at the boundary. */
  readonly commands: CS;
  /**
   * Commands only the platform may send (sagas over RPC, platform routes such as a payment's
   * settle route); the tenant API answers them 404, exactly as a command that does not exist, and
   * the API document leaves them out. Every other command is public. Default: none.
   */
  readonly internal?: readonly (keyof CS & string)[];
  readonly events: { readonly [K in E["type"]]: EventSpec };
  decide(state: S, command: CommandOf<CS>): readonly E[] | Rejection;
  evolve(state: S, event: E): S;
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
  evolve(state: unknown, event: DomainEvent): unknown;
  /** The version new events of `eventType` are written at. */
  eventVersion(eventType: string): number;
  /** Lift a stored payload to the current version of its type. */
  upcast(eventType: string, storedVersion: number, data: unknown): unknown;
  fold(events: Iterable<DomainEvent>, from?: unknown): unknown;
}

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message,
  }));
}

export function defineEntity<S, CS extends CommandSchemas, E extends DomainEvent>(
  definition: EntityDefinition<S, CS, E>,
): EntityType & { readonly definition: EntityDefinition<S, CS, E> } {
  const specs = definition.events as Readonly<Record<string, EventSpec>>;
  const commandSchemas = definition.commands as Readonly<Record<string, z.ZodType>>;
  // Snapshots are stored as JSON, so the initial state must survive a round trip unchanged.
  const initialJson = JSON.stringify(definition.initialState);
  const evolve = (state: unknown, event: DomainEvent): unknown => definition.evolve(state as S, event as E);
  const commandNames = Object.keys(commandSchemas);
  const internal = new Set<string>(definition.internal ?? []);
  for (const name of internal) {
    if (!Object.hasOwn(commandSchemas, name)) throw new Error(`${definition.type}: internal command ${name} is not a command`);
  }
  const publicCommandNames = commandNames.filter((name) => !internal.has(name));

  return {
    definition,
    type: definition.type,
    commandNames,
    publicCommandNames,
    isPublicCommand: (name) => publicCommandNames.includes(name),
    eventTypes: Object.keys(specs),
    snapshotEvery: definition.snapshotEvery ?? 100,
    stateVersion: definition.stateVersion ?? 1,
    commandSchema: (name) => (Object.hasOwn(commandSchemas, name) ? commandSchemas[name] : undefined),
    parseCommand(name, body) {
      if (!Object.hasOwn(commandSchemas, name)) return undefined;
      const schema = commandSchemas[name];
      if (!schema) return undefined;
      const parsed = schema.safeParse(body);
      return parsed.success
        ? { ok: true, command: { type: name, data: parsed.data } }
        : { ok: false, errors: fieldErrors(parsed.error) };
    },
    initialState: () => JSON.parse(initialJson) as unknown,
    decide: (state, command) => definition.decide(state as S, command as CommandOf<CS>),
    evolve,
    eventVersion: (eventType) => (Object.hasOwn(specs, eventType) ? specs[eventType]?.version : undefined) ?? 1,
    upcast(eventType, storedVersion, data) {
      const spec = Object.hasOwn(specs, eventType) ? specs[eventType] : undefined;
      const target = spec?.version ?? 1;
      let lifted = data;
      for (let v = storedVersion; v < target; v++) {
        const step = spec?.upcast && Object.hasOwn(spec.upcast, v) ? spec.upcast[v] : undefined;
        if (!step) throw new Error(`${definition.type}: no upcaster for ${eventType} v${v} → v${v + 1}`);
        lifted = step(lifted);
      }
      return lifted;
    },
    fold(events, from) {
      let state = from ?? (JSON.parse(initialJson) as unknown);
      for (const event of events) state = evolve(state, event);
      return state;
    },
  };
}

/** The set of entity types a deployment serves, looked up by their URL segment. */
export class EntityRegistry {
  readonly #types: ReadonlyMap<string, EntityType>;

  constructor(types: readonly EntityType[]) {
    const map = new Map<string, EntityType>();
    for (const t of types) {
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
