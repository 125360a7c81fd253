// The projection definition API: which entity types a read model follows, how each event type
// changes its drizzle tables, and how the view is read. Handlers return statements instead of
// running them, so the consumer can put a whole batch (and its checkpoints) in one D1 batch.
//
// Rows carry a generation: reads see the tenant's active generation while a rebuild fills the
// next one, so old rows keep serving until the new ones are complete.
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { RecordedEvent } from "../src/core/envelope.js";

export type Db = DrizzleD1Database<Record<string, never>>;
export type Statement = BatchItem<"sqlite">;

export type ListQuery = Readonly<Record<string, string>>;

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

export interface Projection {
  /** The `{view}` segment of `/v1/views/{view}`. */
  readonly name: string;
  /** Entity types whose whole logs this projection follows. */
  readonly follows: readonly string[];
  /** Statements that apply one event; event types without a handler only advance the checkpoint. */
  readonly on: Readonly<Record<string, (db: Db, event: RecordedEvent, generation: number) => readonly Statement[]>>;
  /**
   * Statements that apply a contiguous run of one entity's events at once, with the same outcome
   * as each event's handler in turn. Optional: a rebuild replays whole logs, and a projection
   * that can fold a run into a few statements saves D1 a statement per event.
   */
  applyRun?(db: Db, events: readonly RecordedEvent[], generation: number): readonly Statement[];
  /**
   * Statements that each remove at most `limit` rows of one tenant in any generation other than
   * `keep` (one chunk of a cleanup, small enough for D1's per-call time limit; run again until
   * they remove nothing).
   */
  clear(db: Db, scope: ClearScope, limit: number): readonly Statement[];
  /** Filters a list read accepts, each with a short description for the API reference. */
  readonly filters: Readonly<Record<string, string>>;
  list(db: Db, scope: RowScope, query: ListQuery, limit: number): Promise<unknown[]>;
  get(db: Db, scope: RowScope, key: string): Promise<unknown | undefined>;
}

export function defineProjection(p: Projection): Projection {
  return p;
}
