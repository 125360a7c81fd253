// One entity's event log and snapshots in the Durable Object's SQLite database. Appends are
// synchronous so the caller can put them in the same transaction as the outbox and the
// idempotency record; reads lift stored payloads to the current schema version.
import { UnfoldableEvent, type EntityType } from "../../src/core/model/entity.js";
import type { EventMetadata, RecordedEvent } from "../../src/core/model/envelope.js";

export interface Snapshot {
  readonly seq: number;
  readonly state: unknown;
}

export class EventLog {
  readonly #sql: SqlStorage;
  readonly #entity: EntityType;

  constructor(sql: SqlStorage, entity: EntityType) {
    this.#sql = sql;
    this.#entity = entity;
  }

  /** The newest event's sequence number and clock (0 and null for an empty log). */
  head(): { readonly seq: number; readonly hlc: string | null } {
    const row = this.#sql
      .exec<{ seq: number; meta: string }>("SELECT seq, meta FROM events ORDER BY seq DESC LIMIT 1")
      .toArray()[0];
    return row ? { seq: row.seq, hlc: (JSON.parse(row.meta) as EventMetadata).hlc } : { seq: 0, hlc: null };
  }

  append(events: readonly RecordedEvent[]): void {
    for (const e of events) {
      this.#sql.exec(
        "INSERT INTO events (seq, type, schema_version, data, meta) VALUES (?, ?, ?, ?, ?)",
        e.seq,
        e.type,
        e.schemaVersion,
        JSON.stringify(e.data),
        JSON.stringify(e.meta),
      );
    }
  }

  /**
   * Events with after < seq ≤ upTo, oldest first, at most `limit`, lifted to their types' current
   * versions; throws `UnfoldableEvent` at an event whose stored payload cannot be lifted.
   */
  *read(after: number, upTo = Number.MAX_SAFE_INTEGER, limit = Number.MAX_SAFE_INTEGER): Generator<RecordedEvent> {
    for (const row of this.#rows(after, upTo, limit)) {
      yield {
        seq: row.seq,
        type: row.type,
        schemaVersion: this.#entity.eventVersion(row.type),
        data: this.#entity.upcast(row.type, row.schema_version, JSON.parse(row.data), row.seq),
        meta: JSON.parse(row.meta) as EventMetadata,
      };
    }
  }

  /** The same events as stored, each at the schema version it was recorded with (for the outbox relay). */
  *readStored(
    after: number,
    upTo = Number.MAX_SAFE_INTEGER,
    limit = Number.MAX_SAFE_INTEGER,
  ): Generator<RecordedEvent> {
    for (const row of this.#rows(after, upTo, limit)) {
      yield {
        seq: row.seq,
        type: row.type,
        schemaVersion: row.schema_version,
        data: JSON.parse(row.data) as unknown,
        meta: JSON.parse(row.meta) as EventMetadata,
      };
    }
  }

  #rows(after: number, upTo: number, limit: number) {
    return this.#sql.exec<{ seq: number; type: string; schema_version: number; data: string; meta: string }>(
      "SELECT seq, type, schema_version, data, meta FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
      after,
      upTo,
      limit,
    );
  }

  /**
   * A reader's page: events after `after`, at most `limit`, ending before the first one that
   * cannot be lifted to its current version, so a reader gets every event before it; the page
   * that would start at it throws its `UnfoldableEvent`.
   */
  page(after: number, limit: number): RecordedEvent[] {
    const events: RecordedEvent[] = [];
    try {
      for (const event of this.read(after, Number.MAX_SAFE_INTEGER, limit)) events.push(event);
    } catch (error) {
      if (events.length === 0 || !(error instanceof UnfoldableEvent)) throw error;
    }
    return events;
  }

  writeSnapshot(seq: number, state: unknown): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO snapshots (seq, state_version, state) VALUES (?, ?, ?)",
      seq,
      this.#entity.stateVersion,
      JSON.stringify(state),
    );
  }

  /** The newest snapshot at or before `seq` written by the current state version, if any. */
  #snapshotAtOrBefore(seq: number): Snapshot | undefined {
    const row = this.#sql
      .exec<{ seq: number; state: string }>(
        "SELECT seq, state FROM snapshots WHERE seq <= ? AND state_version = ? ORDER BY seq DESC LIMIT 1",
        seq,
        this.#entity.stateVersion,
      )
      .toArray()[0];
    return row ? { seq: row.seq, state: JSON.parse(row.state) as unknown } : undefined;
  }

  /** State as of `seq`: the nearest snapshot plus the tail after it, never the whole log. */
  stateAt(seq: number, useSnapshots = true): unknown {
    const snapshot = useSnapshots ? this.#snapshotAtOrBefore(seq) : undefined;
    return this.#entity.fold(this.read(snapshot?.seq ?? 0, seq), snapshot?.state);
  }
}
