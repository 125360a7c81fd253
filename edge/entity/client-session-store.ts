// The client-session records of one entity (src/core/protocol/client-session.ts): per session
// that sent this entity commands, the last command decided and its answer (an applied one as the
// range of the log it recorded). Written in the same synchronous transaction as the events the
// command recorded, so an answer is remembered if and only if its decision was.
import type { CommandResult, RecordedEvent } from "../../src/core/model/envelope.js";
import type { Problem } from "../../src/core/http/problem.js";
import {
  appliedAnswer,
  classifySessionCommand,
  CLIENT_SESSION_RETENTION_MS,
  recordAnswer,
  type SessionAnswer,
  type SessionRecord,
} from "../../src/core/protocol/client-session.js";
import type { CommandEnvelope, CommandOutcome } from "../../src/core/protocol/entity-protocol.js";

/** How often expired records are looked for (ms): a purge is one indexed DELETE. */
const PURGE_EVERY_MS = 60_000;

/** Reads the log's events with `after < seq <= upTo` (an applied answer is rebuilt from them). */
export type LogRange = (after: number, upTo: number) => readonly RecordedEvent[];

export class ClientSessionStore {
  readonly #sql: SqlStorage;
  readonly #range: LogRange;
  #purgedAt = 0;

  constructor(sql: SqlStorage, range: LogRange) {
    this.#sql = sql;
    this.#range = range;
    // The table is migration 3 of storage-schema.ts.
  }

  /**
   * The answer to a session command already decided here (a replay, a duplicate, or a reused
   * number), or undefined when it is new (or carries no session) and must be decided.
   */
  check(envelope: CommandEnvelope, now: number): CommandOutcome | undefined {
    const id = envelope.clientSession;
    if (id === undefined) return undefined;
    const verdict = classifySessionCommand(this.#read(id.session), id, envelope.fingerprint ?? "", now);
    if (verdict.kind === "new") return undefined;
    // The session reached this entity again: its record lives 180 days from now.
    this.#sql.exec("UPDATE client_sessions SET touched_at = ? WHERE session = ?", now, id.session);
    switch (verdict.kind) {
      case "replay": {
        const answer = verdict.answer;
        if (answer.kind === "rejected") return { ok: false, problem: answer.problem };
        const { entityType: type, entityId: id } = envelope;
        const result: CommandResult = {
          type,
          id,
          version: answer.version,
          events: this.#range(answer.version - answer.events, answer.version),
        };
        return { ok: true, result, replayed: true };
      }
      case "reused":
      case "duplicate":
        return { ok: false, problem: verdict.problem };
    }
  }

  /** Remembers the decision of a session command (no-op without a session); call inside the command's transaction. */
  remember(envelope: CommandEnvelope, answer: { result: CommandResult } | { problem: Problem }, now: number): void {
    const id = envelope.clientSession;
    if (id === undefined) return;
    const stored: SessionAnswer =
      "result" in answer ? appliedAnswer(answer.result) : { kind: "rejected", problem: answer.problem };
    const record = recordAnswer(id, envelope.fingerprint ?? "", stored, now);
    this.#sql.exec(
      "INSERT OR REPLACE INTO client_sessions (session, seq, fingerprint, answer, touched_at) VALUES (?, ?, ?, ?, ?)",
      id.session,
      record.seq,
      record.fingerprint,
      JSON.stringify(record.answer),
      record.touchedAt,
    );
    this.#purgeExpired(now);
  }

  #read(session: string): SessionRecord | undefined {
    const row = this.#sql
      .exec<{ seq: number; fingerprint: string; answer: string; touched_at: number }>(
        "SELECT seq, fingerprint, answer, touched_at FROM client_sessions WHERE session = ?",
        session,
      )
      .toArray()[0];
    if (!row) return undefined;
    // Written only by `remember` above, from a SessionAnswer.
    const answer = JSON.parse(row.answer) as SessionAnswer;
    return { seq: row.seq, fingerprint: row.fingerprint, answer, touchedAt: row.touched_at };
  }

  #purgeExpired(now: number): void {
    if (now - this.#purgedAt < PURGE_EVERY_MS) return;
    this.#purgedAt = now;
    this.#sql.exec("DELETE FROM client_sessions WHERE touched_at < ?", now - CLIENT_SESSION_RETENTION_MS);
  }
}
