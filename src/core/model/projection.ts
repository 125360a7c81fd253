// The projection definition API: which entities a read model follows, how each of their event
// types changes its drizzle tables, and how the view is read. Handlers return statements instead
// of running them, so the consumer can put a whole batch (and its checkpoints) in one D1 batch.
// Pure: drizzle builds statements against the database handle it is given; nothing here holds a
// binding.
//
// Rows carry a generation: reads see the tenant's active generation while a rebuild fills the
// next one, so old rows keep serving until the new ones are complete.
import type { BatchItem } from "drizzle-orm/batch";
import type { z } from "zod";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { checkName, MEMBER_NAME, SEGMENT_NAME } from "../protocol/names.js";
import { type AnyEntity, checkDeclaredEvent, type TypeNameOf } from "./entity.js";
import type { RecordedEvent } from "./envelope.js";
import type { AnyEventName, FactNamed, FactOfAny } from "./saga.js";

export type { AnyEventName, FactNamed, FactOfAny };

export type Db = DrizzleD1Database<Record<string, never>>;
export type Statement = BatchItem<"sqlite">;

/** A list read's filter values by filter name, each as its schema parsed it (runtime shape: `FilterQuery` erased). */
export type ListQuery = Readonly<Record<string, string>>;

/** A projection's filters: by query parameter name, the schema of its value (its output a string). */
export type FilterSchemas = Readonly<Record<string, z.ZodType<string>>>;

/**
 * The filters a list read was given, typed by the projection's `filters`: each one present is
 * the output of its schema (an enum's member, a trimmed string), absent when the URL lacks it.
 */
export type FilterQuery<F extends FilterSchemas> = { readonly [K in keyof F]?: z.output<F[K]> };

/** Whose rows, in which generation. */
export interface RowScope {
  readonly tenant: string;
  readonly generation: number;
}

/** Whose rows to clear: every generation of the tenant except the one kept. */
export interface ClearScope {
  readonly tenant: string;
  readonly keep: number;
}

/** A projection as the runtime sees it: entity types and event names as plain strings. */
export interface Projection {
  /** The `{view}` segment of `/v1/views/{view}`. */
  readonly name: string;
  /** Entity types whose whole logs this projection follows. */
  readonly follows: readonly string[];
  /**
   * Statements that apply one event. A fact of a type without a handler (one the projection does
   * not follow, or one its entity renamed or removed in code) only advances the checkpoint.
   */
  readonly on: Readonly<Record<string, (db: Db, event: RecordedEvent, generation: number) => readonly Statement[]>>;
  /**
   * Statements that apply a contiguous run of one entity's events at once, with the same outcome
   * as each event's handler in turn; the run holds only events of the types `on` handles (the
   * others only advance the checkpoint). Optional: a rebuild replays whole logs, and a projection
   * that can fold a run into a few statements saves D1 a statement per event.
   */
  applyRun?(db: Db, events: readonly RecordedEvent[], generation: number): readonly Statement[];
  /**
   * Statements that each remove at most `limit` rows of one tenant in any generation other than
   * `keep` (one chunk of a cleanup, small enough for D1's per-call time limit; run again until
   * they remove nothing).
   */
  clear(db: Db, scope: ClearScope, limit: number): readonly Statement[];
  /**
   * Filters a list read accepts, by query name, each a schema of its value: a value that fails it
   * is refused (400 `validation-failed`), not answered with an empty list, and `list` is given
   * what it parsed; its `.describe()` text documents it in the API reference.
   */
  readonly filters: FilterSchemas;
  /**
   * The field of a listed row that holds its key: the `{key}` of `/v1/views/{view}/{key}`, unique
   * among the rows of one tenant and generation. Lists are ordered by it and paged after it.
   */
  readonly key: string;
  /**
   * At most `limit` rows matching `query`, in ascending (SQLite binary) order of `key`, only those
   * whose key is greater than `after` when it is given: one page of a keyset-paged list.
   */
  list(db: Db, scope: RowScope, query: ListQuery, limit: number, after?: string): Promise<unknown[]>;
  get(db: Db, scope: RowScope, key: string): Promise<unknown | undefined>;
}

/**
 * A projection as a team writes it over the entities `X` it follows, its rows of type `R`: `on` is
 * keyed by their event names (an unknown name does not compile), each handler gets the fact with
 * its data typed, `key` must name a string field of the rows `list` and `get` answer, and `list`
 * gets the filters `F` declares, each typed as its schema's output.
 */
export interface TypedProjection<X extends AnyEntity, R extends object, F extends FilterSchemas = FilterSchemas>
  extends Omit<Projection, "follows" | "on" | "applyRun" | "filters" | "key" | "list" | "get"> {
  readonly on: {
    readonly [K in AnyEventName<X>]?: (db: Db, event: FactNamed<X, K>, generation: number) => readonly Statement[];
  };
  applyRun?(db: Db, events: readonly FactOfAny<X>[], generation: number): readonly Statement[];
  readonly filters: F;
  readonly key: KeyFieldOf<R>;
  list(db: Db, scope: RowScope, query: FilterQuery<F>, limit: number, after?: string): Promise<R[]>;
  get(db: Db, scope: RowScope, key: string): Promise<R | undefined>;
}

/** The names of the fields of `R` that hold strings: what a view's key can be. */
export type StringFieldOf<R extends object> = { [F in keyof R]-?: R[F] extends string ? F : never }[keyof R] & string;

/**
 * What `key` may be: a string field of the rows. When the rows have none (often because `get`
 * answers `undefined` with no declared row type, so none was inferred), the compiler's error names
 * the fix instead of `never`.
 */
export type KeyFieldOf<R extends object> = [StringFieldOf<R>] extends [never]
  ? "(key must name a string field of the rows get and list answer: declare their type, e.g. get: async (db, scope, key): Promise<Row | undefined> => …)"
  : StringFieldOf<R>;

/**
 * A projection in the runtime's shape that remembers, for the compiler only, the entities it
 * follows and its filters, so that the projection kit can check the facts and queries it is given.
 */
export type ProjectionOf<X extends AnyEntity, F extends FilterSchemas = FilterSchemas> = Projection & {
  readonly __entities?: X;
  readonly __filters?: F;
};

/**
 * Throws unless the projection's name and its filters' names are in their grammars
 * (`projectionNameSchema`, `filterNameSchema`), naming the bad one and the rule: the name is a
 * URL segment and part of its rebuilder's object name, each filter a query parameter.
 */
export function checkProjectionNames(projection: Pick<Projection, "name" | "filters">): void {
  checkName("projection name", SEGMENT_NAME, projection.name);
  for (const name of Object.keys(projection.filters))
    checkName(`projection ${projection.name}: filter name`, MEMBER_NAME, name);
}

/**
 * Throws unless each key of the projection's `on` is an event one of `followed` (the entities it
 * follows) declares, naming the key: a handler keyed by another name (a typo, a renamed event,
 * `toString`) would never be called. Only own keys count, as for the consumer's lookups.
 */
export function checkProjectionHandlers(
  projection: { readonly name: string; readonly on: object },
  followed: readonly Pick<AnyEntity, "type" | "eventTypes">[],
): void {
  for (const name of Object.keys(projection.on))
    checkDeclaredEvent(`projection ${projection.name}: on`, followed, name);
}

/**
 * Defines a projection over the entities it follows:
 * `defineProjection(inventory)({ name, on: { Reserved: (db, e, g) => … e.data.quantity … }, … })`.
 * `follows` is their type names. The result is the runtime's type-erased `Projection`. Two
 * steps, as `defineSaga`: the entities are fixed before the handlers are checked against them.
 * Throws when a name is outside its grammar (checkProjectionNames), or `on` has a handler for an
 * event none of them declares (checkProjectionHandlers).
 */
export function defineProjection<const Xs extends readonly AnyEntity[]>(...entities: Xs) {
  const follows: readonly TypeNameOf<Xs[number]>[] = entities.map((entity) => entity.type);
  return <R extends object, const F extends FilterSchemas>(
    projection: TypedProjection<Xs[number], R, F>,
  ): ProjectionOf<Xs[number], F> => {
    checkProjectionNames(projection);
    checkProjectionHandlers(projection, entities);
    // The consumer hands a handler only facts of the entity types in `follows` whose type is the
    // handler's key, and a run only such facts: the one place erased facts meet typed handlers.
    const on = projection.on as Projection["on"];
    const applyRun = projection.applyRun as Projection["applyRun"];
    // The view route hands `list` only the filters `filters` declares, each as its schema parsed it.
    const list = projection.list as Projection["list"];
    return { ...projection, follows, on, list, ...(applyRun === undefined ? {} : { applyRun }) };
  };
}
