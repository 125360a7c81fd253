// The SQLite tables of one Durable Stream object and the typed reads and writes over them. One row
// of `stream_meta` exists while the stream does; `stream_messages` holds one row per append (a JSON
// batch is one row of comma-joined messages), keyed by its offset's message count; producers are
// remembered as long as the stream exists (PROTOCOL.md §5.2.1 "persistent stores").
// `stream_generations` outlives them all: it remembers the generation of the last stream purged
// here, so that a stream created again at the URL mints offsets no reader of the old one holds.

/** The schema, created on wake-up; `IF NOT EXISTS` makes it idempotent. */
export const STREAM_SCHEMA = `
CREATE TABLE IF NOT EXISTS stream_meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  incarnation TEXT NOT NULL,
  content_type TEXT NOT NULL,
  ttl_seconds INTEGER, expires_at TEXT,
  req_ttl_seconds INTEGER, req_expires_at TEXT,
  closed INTEGER NOT NULL DEFAULT 0, closed_by TEXT,
  last_stream_seq TEXT,
  tail INTEGER NOT NULL,
  touched_at INTEGER NOT NULL,
  forked_from TEXT, fork_offset INTEGER, fork_sub_offset INTEGER NOT NULL DEFAULT 0,
  ref_count INTEGER NOT NULL DEFAULT 0,
  soft_deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stream_messages (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS stream_producers (id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stream_generations (id INTEGER PRIMARY KEY CHECK (id = 1), last_purged INTEGER NOT NULL);
`;

/** A stream's state, as its meta row holds it. */
export interface StreamMeta {
  /** Random per creation: ETags of a stream re-created at the same URL never match the old one's. */
  readonly incarnation: string;
  /**
   * The number of streams purged from this URL before this one: the first part of its offsets
   * (src/core/streams/offsets.ts). Not stored in the meta row: it is one more than the last
   * purged generation, which `purge` records.
   */
  readonly generation: number;
  readonly contentType: string;
  readonly ttlSeconds: number | undefined;
  readonly expiresAt: string | undefined;
  /** The lifetime the creating PUT asked for (a fork may have inherited another): idempotency compares these. */
  readonly requestedTtlSeconds: number | undefined;
  readonly requestedExpiresAt: string | undefined;
  readonly closed: boolean;
  /** `epoch:seq:id` of the producer request that closed the stream, if one did. */
  readonly closedBy: string | undefined;
  readonly lastStreamSeq: string | undefined;
  /** Messages (appends) in the stream: the tail offset's count. */
  readonly tail: number;
  readonly touchedAt: number;
  readonly forkedFrom: string | undefined;
  readonly forkOffset: number | undefined;
  readonly forkSubOffset: number;
  /** Forks that were created from this stream and still exist. */
  readonly refCount: number;
  readonly softDeleted: boolean;
}

/**
 * One stored append. Text and JSON streams store valid UTF-8 as TEXT (a string: reads join strings
 * instead of allocating a buffer per row); anything else, and any bytes that are not UTF-8, as a BLOB.
 */
export interface StoredMessage {
  readonly seq: number;
  readonly data: Uint8Array | string;
}

type MetaRow = {
  incarnation: string;
  content_type: string;
  ttl_seconds: number | null;
  expires_at: string | null;
  req_ttl_seconds: number | null;
  req_expires_at: string | null;
  closed: number;
  closed_by: string | null;
  last_stream_seq: string | null;
  tail: number;
  touched_at: number;
  forked_from: string | null;
  fork_offset: number | null;
  fork_sub_offset: number;
  ref_count: number;
  soft_deleted: number;
};

/** The producer tuple as stored in `closed_by`. */
export function producerTuple(p: { readonly id: string; readonly epoch: number; readonly seq: number }): string {
  return `${p.epoch}:${p.seq}:${p.id}`;
}

/**
 * Typed access to one object's stream tables (synchronous: callers group writes in
 * `transactionSync`). The meta row is cached in memory and every write here updates the copy, so
 * an append is one INSERT (the tail is not rewritten per append: it is the larger of the meta
 * row's `tail`, set at creation, and the last message's seq, read once on load).
 */
export class StreamStorage {
  readonly #sql: SqlStorage;
  /** The meta row as last written; null: not read yet; undefined: no stream. */
  #meta: StreamMeta | undefined | null = null;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(STREAM_SCHEMA);
  }

  meta(): StreamMeta | undefined {
    if (this.#meta === null) this.#meta = this.#load();
    return this.#meta;
  }

  /** Forgets the cached meta row (after a failed transaction, or a write made behind this class's back). */
  reload(): void {
    this.#meta = null;
  }

  #set(patch: Partial<StreamMeta>): void {
    const m = this.meta();
    if (m !== undefined) this.#meta = { ...m, ...patch };
  }

  #load(): StreamMeta | undefined {
    const row = this.#sql.exec<MetaRow>("SELECT * FROM stream_meta WHERE id = 1").toArray()[0];
    if (row === undefined) return undefined;
    const last =
      this.#sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM stream_messages").toArray()[0]?.seq ?? 0;
    return {
      incarnation: row.incarnation,
      generation: this.nextGeneration(),
      contentType: row.content_type,
      ttlSeconds: row.ttl_seconds ?? undefined,
      expiresAt: row.expires_at ?? undefined,
      requestedTtlSeconds: row.req_ttl_seconds ?? undefined,
      requestedExpiresAt: row.req_expires_at ?? undefined,
      closed: row.closed === 1,
      closedBy: row.closed_by ?? undefined,
      lastStreamSeq: row.last_stream_seq ?? undefined,
      tail: Math.max(row.tail, last),
      touchedAt: row.touched_at,
      forkedFrom: row.forked_from ?? undefined,
      forkOffset: row.fork_offset ?? undefined,
      forkSubOffset: row.fork_sub_offset,
      refCount: row.ref_count,
      softDeleted: row.soft_deleted === 1,
    };
  }

  /** The generation of a stream created here now (or of the one that exists): one past the last purged. */
  nextGeneration(): number {
    const row = this.#sql
      .exec<{ last_purged: number }>("SELECT last_purged FROM stream_generations WHERE id = 1")
      .toArray()[0];
    return row === undefined ? 0 : row.last_purged + 1;
  }

  /** Writes a new stream's meta row (the caller has purged any previous one); `m.generation` is `nextGeneration()`. */
  create(m: StreamMeta): void {
    this.#sql.exec(
      `INSERT INTO stream_meta (id, incarnation, content_type, ttl_seconds, expires_at, req_ttl_seconds, req_expires_at, closed, closed_by,
         last_stream_seq, tail, touched_at, forked_from, fork_offset, fork_sub_offset, ref_count, soft_deleted)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      m.incarnation,
      m.contentType,
      m.ttlSeconds ?? null,
      m.expiresAt ?? null,
      m.requestedTtlSeconds ?? null,
      m.requestedExpiresAt ?? null,
      m.closed ? 1 : 0,
      m.closedBy ?? null,
      m.lastStreamSeq ?? null,
      m.tail,
      m.touchedAt,
      m.forkedFrom ?? null,
      m.forkOffset ?? null,
      m.forkSubOffset,
      m.refCount,
      m.softDeleted ? 1 : 0,
    );
    this.#meta = m;
  }

  /** Stores `data` at `seq` (the new tail). */
  insertMessage(seq: number, data: Uint8Array | string): void {
    this.#sql.exec("INSERT INTO stream_messages (seq, data) VALUES (?, ?)", seq, data);
  }

  /**
   * Records an append (or a close): the new tail, and the Stream-Seq, closure (`closedBy`: the
   * producer tuple, null for none, undefined when not closing) and TTL touch it carried. Writes
   * the meta row only when one of those changes it.
   */
  advance(tail: number, streamSeq: string | undefined, closedBy: string | null | undefined, now: number): void {
    const m = this.meta();
    if (m === undefined) return;
    const closing = closedBy !== undefined && !m.closed;
    if (streamSeq !== undefined || closing || m.ttlSeconds !== undefined) {
      this.#sql.exec(
        `UPDATE stream_meta SET last_stream_seq = COALESCE(?, last_stream_seq),
           closed = CASE WHEN ? THEN 1 ELSE closed END, closed_by = COALESCE(?, closed_by), touched_at = ? WHERE id = 1`,
        streamSeq ?? null,
        closing ? 1 : 0,
        closing ? (closedBy ?? null) : null,
        now,
      );
    }
    this.#set({
      tail,
      touchedAt: now,
      ...(streamSeq !== undefined ? { lastStreamSeq: streamSeq } : {}),
      ...(closing ? { closed: true, closedBy: closedBy ?? undefined } : {}),
    });
  }

  touch(now: number): void {
    this.#sql.exec("UPDATE stream_meta SET touched_at = ? WHERE id = 1", now);
    this.#set({ touchedAt: now });
  }

  setSoftDeleted(): void {
    this.#sql.exec("UPDATE stream_meta SET soft_deleted = 1 WHERE id = 1");
    this.#set({ softDeleted: true });
  }

  /** Adds `delta` to the count of live forks; answers the new count. */
  addRef(delta: number): number {
    const row = this.#sql
      .exec<{ ref_count: number }>(
        "UPDATE stream_meta SET ref_count = MAX(0, ref_count + ?) WHERE id = 1 RETURNING ref_count",
        delta,
      )
      .toArray()[0];
    const refCount = row?.ref_count ?? 0;
    this.#set({ refCount });
    return refCount;
  }

  /** Messages after `after`, in order, until `maxBytes` is reached (always at least one when any exists). */
  read(after: number, maxBytes: number, upTo = Number.MAX_SAFE_INTEGER): StoredMessage[] {
    const out: StoredMessage[] = [];
    let bytes = 0;
    // raw(): rows as arrays, not objects with named keys, on the catch-up hot path.
    // octet_length: a text's size in UTF-8 bytes as stored (a blob's in bytes), as the page goes out;
    // its length in UTF-16 units undercounts a text of three-byte characters threefold.
    for (const [seq, stored, size] of this.#sql
      .exec(
        "SELECT seq, data, octet_length(data) FROM stream_messages WHERE seq > ? AND seq <= ? ORDER BY seq",
        after,
        upTo,
      )
      .raw<[number, ArrayBuffer | string, number]>()) {
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push({ seq, data: typeof stored === "string" ? stored : new Uint8Array(stored) });
      bytes += size;
    }
    return out;
  }

  producer(id: string): { epoch: number; lastSeq: number } | undefined {
    const row = this.#sql
      .exec<{ epoch: number; last_seq: number }>("SELECT epoch, last_seq FROM stream_producers WHERE id = ?", id)
      .toArray()[0];
    return row === undefined ? undefined : { epoch: row.epoch, lastSeq: row.last_seq };
  }

  saveProducer(id: string, state: { readonly epoch: number; readonly lastSeq: number }): void {
    this.#sql.exec(
      "INSERT INTO stream_producers (id, epoch, last_seq) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq",
      id,
      state.epoch,
      state.lastSeq,
    );
  }

  /** Forgets the stream entirely (its data, producers and meta), remembering its generation. */
  purge(): void {
    const gone = this.meta();
    if (gone !== undefined)
      this.#sql.exec(
        "INSERT INTO stream_generations (id, last_purged) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET last_purged = excluded.last_purged",
        gone.generation,
      );
    this.#sql.exec("DELETE FROM stream_messages");
    this.#sql.exec("DELETE FROM stream_producers");
    this.#sql.exec("DELETE FROM stream_meta");
    this.#meta = undefined;
  }
}
