// The simulator's model of D1: the cloud tier's tables as maps, and `batch()` as D1 runs it —
// statements in order, all or nothing (a statement that throws rolls the whole batch back). The
// rows are what the real schema holds (cloud/schema.ts): projection generations, checkpoints per
// (projection, generation, entity), the sagas' checkpoints per entity, entity heads, dead
// letters, parked facts' notices, and the views. A view row here records what was applied to it (how many facts, the
// last seq, a digest of them in order): the simulator checks the consumer's delivery discipline —
// exactly once, in order, per generation — against the entity logs; the projections' SQL
// handlers themselves are covered by the workerd suites (test/projections.test.ts and others).
// A row is a digest of the facts applied to it rather than the view's columns: equal digests
// mean the same facts in the same order, so the row equals the fold of the log.

import type { SagaStatusRow } from "../core/saga/saga-runner.js";

/** The generations of one (projection, tenant): the one serving reads and the one a rebuild fills. */
export interface Generations {
  readonly active: number;
  readonly building: number | null;
}

export const NO_GENERATIONS: Generations = { active: 0, building: null };

/** One view row: a digest of the facts applied to it, in order (see consumer.ts `chainDigest`). */
export interface ViewRow {
  readonly tenant: string;
  readonly digest: number;
  readonly applied: number;
  readonly lastSeq: number;
}

/** A dead letter: a fact that kept failing (its entity and seq), or a message that is no fact (null for each). */
export interface DeadLetter {
  readonly tenant: string | null;
  readonly entityKey: string | null;
  readonly seq: number | null;
  /** The projection whose handler failed for it, or null (production's `dead_letters.projection`). */
  readonly projection: string | null;
  readonly error: string;
}

/** A parked fact's notice as recorded for operators (production: the `parked_facts` table, keyed by event id). */
export interface ParkedRecord {
  readonly tenant: string;
  readonly entityKey: string;
  readonly seq: number;
}

/** A statement: reads and writes the tables through the transaction it runs in; throws to fail. */
export type SimStatement = (tx: Tx) => void;

type TableName = "generations" | "checkpoints" | "sagaCheckpoints" | "heads" | "views" | "parkedFacts";

/** The tables, each a map keyed as the real table's primary key (fields joined with `|`). */
export class D1Model {
  readonly generations = new Map<string, Generations>();
  readonly checkpoints = new Map<string, number>();
  readonly sagaCheckpoints = new Map<string, number>();
  readonly heads = new Map<
    string,
    { readonly tenant: string; readonly entityType: string; readonly entityId: string; readonly seq: number }
  >();
  readonly views = new Map<string, ViewRow>();
  readonly parkedFacts = new Map<string, ParkedRecord>();
  readonly deadLetters: DeadLetter[] = [];
  /** The sagas' status mirror (`saga_instances`), by saga id: what the admin API lists. */
  readonly sagaInstances = new Map<string, SagaStatusRow>();

  /** Runs `statements` as one D1 batch: all applied, or (on a throw) none. */
  batch(statements: readonly SimStatement[]): void {
    const tx = new Tx(this);
    try {
      for (const statement of statements) statement(tx);
    } catch (error) {
      tx.rollback();
      throw error;
    }
  }

  table(name: TableName): Map<string, unknown> {
    return this[name] as Map<string, unknown>;
  }
}

/** A transaction over the model: writes go straight to the tables, with an undo log for rollback. */
export class Tx {
  readonly #db: D1Model;
  readonly #undo: (() => void)[] = [];

  constructor(db: D1Model) {
    this.#db = db;
  }

  get db(): D1Model {
    return this.#db;
  }

  set<K extends TableName>(name: K, key: string, value: D1Model[K] extends Map<string, infer V> ? V : never): void {
    const table = this.#db.table(name);
    const had = table.has(key);
    const prior = table.get(key);
    this.#undo.push(() => (had ? table.set(key, prior) : table.delete(key)));
    table.set(key, value);
  }

  delete(name: TableName, key: string): void {
    const table = this.#db.table(name);
    if (!table.has(key)) return;
    const prior = table.get(key);
    this.#undo.push(() => table.set(key, prior));
    table.delete(key);
  }

  rollback(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) this.#undo[i]?.();
  }
}

/** The key of an entity: tenant, type and id. */
export function entityKey(tenant: string, entityType: string, entityId: string): string {
  return `${tenant}|${entityType}|${entityId}`;
}

/** The key of a checkpoint or view row: projection, generation and the entity. */
export function rowKey(projection: string, generation: number, entity: string): string {
  return `${projection}|${generation}|${entity}`;
}

export function generationsKey(projection: string, tenant: string): string {
  return `${projection}|${tenant}`;
}
