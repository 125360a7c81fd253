// The projection definition API: which entity types a read model follows, how each event type
// changes its drizzle tables, and how the view is read. Handlers return statements instead of
// running them, so the consumer can put a whole batch (and its checkpoints) in one D1 batch.
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { RecordedEvent } from "../src/core/envelope.js";

export type Db = DrizzleD1Database<Record<string, never>>;
export type Statement = BatchItem<"sqlite">;

export type ListQuery = Readonly<Record<string, string>>;

export interface Projection {
  /** The `{view}` segment of `/v1/views/{view}`. */
  readonly name: string;
  /** Entity types whose whole logs this projection follows. */
  readonly follows: readonly string[];
  /** Statements that apply one event; event types without a handler only advance the checkpoint. */
  readonly on: Readonly<Record<string, (db: Db, event: RecordedEvent) => readonly Statement[]>>;
  /** Statements that remove every row of one tenant (for a rebuild). */
  clear(db: Db, tenant: string): readonly Statement[];
  /** Filters a list read accepts, each with a short description for the API reference. */
  readonly filters: Readonly<Record<string, string>>;
  list(db: Db, tenant: string, query: ListQuery, limit: number): Promise<unknown[]>;
  get(db: Db, tenant: string, key: string): Promise<unknown | undefined>;
}

export function defineProjection(p: Projection): Projection {
  return p;
}
