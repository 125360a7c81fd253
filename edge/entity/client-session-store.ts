// The client-session records of one entity in its Durable Object's SQLite database (the
// `client_sessions` table, migration 3 of storage-schema.ts): the storage port of the rule in
// src/core/entity/client-sessions.ts. Per session that sent this entity commands, the last command
// decided and its answer (an applied one as the range of the log it recorded).
import type { SessionRecords } from "../../src/core/entity/client-sessions.js";
import type { SessionAnswer, SessionRecord } from "../../src/core/protocol/client-session.js";

export class SqlSessionRecords implements SessionRecords {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get(session: string): SessionRecord | undefined {
    const row = this.#sql
      .exec<{ seq: number; fingerprint: string; answer: string; touched_at: number }>(
        "SELECT seq, fingerprint, answer, touched_at FROM client_sessions WHERE session = ?",
        session,
      )
      .toArray()[0];
    if (!row) return undefined;
    // Written only by `put` below, from a SessionAnswer.
    const answer = JSON.parse(row.answer) as SessionAnswer;
    return { seq: row.seq, fingerprint: row.fingerprint, answer, touchedAt: row.touched_at };
  }

  put(session: string, record: SessionRecord): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO client_sessions (session, seq, fingerprint, answer, touched_at) VALUES (?, ?, ?, ?, ?)",
      session,
      record.seq,
      record.fingerprint,
      JSON.stringify(record.answer),
      record.touchedAt,
    );
  }

  touch(session: string, now: number): void {
    this.#sql.exec("UPDATE client_sessions SET touched_at = ? WHERE session = ?", now, session);
  }

  deleteTouchedBefore(before: number): void {
    this.#sql.exec("DELETE FROM client_sessions WHERE touched_at < ?", before);
  }
}
