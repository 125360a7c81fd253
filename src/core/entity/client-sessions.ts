// An entity's side of client sessions (src/core/protocol/client-session.ts): answering a session
// command already decided here from its record, and remembering the answer of one just decided.
// Storage is a port: the `client_sessions` table in production (edge/entity/client-session-store.ts),
// a map in the simulator. `remember` runs inside the command's transaction, so an answer is
// remembered if and only if its decision was.
import type { Problem } from "../http/problem.js";
import type { CommandResult, RecordedEvent } from "../model/envelope.js";
import {
  appliedAnswer,
  classifySessionCommand,
  CLIENT_SESSION_RETENTION_MS,
  recordAnswer,
  type SessionAnswer,
  type SessionRecord,
} from "../protocol/client-session.js";
import type { CommandEnvelope, CommandOutcome } from "../protocol/entity-protocol.js";

/** How often expired records are looked for (ms): a purge is one indexed DELETE. */
const PURGE_EVERY_MS = 60_000;

/** Where an entity keeps one record per client session that reached it. */
export interface SessionRecords {
  get(session: string): SessionRecord | undefined;
  put(session: string, record: SessionRecord): void;
  /** The session reached the entity again at `now` (epoch ms): its record lives on from then. */
  touch(session: string, now: number): void;
  /** Removes every record last touched before `before` (epoch ms). */
  deleteTouchedBefore(before: number): void;
}

/** Reads the log's events with `after < seq <= upTo` (an applied answer is rebuilt from them). */
export type LogRange = (after: number, upTo: number) => readonly RecordedEvent[];

/** The session rule over an entity's records; one instance per object incarnation (the purge time is memory). */
export class ClientSessions {
  readonly #records: SessionRecords;
  readonly #range: LogRange;
  #purgedAt = 0;

  constructor(records: SessionRecords, range: LogRange) {
    this.#records = records;
    this.#range = range;
  }

  /**
   * The answer to a session command already decided here (a replay, a duplicate, or a reused
   * number), or undefined when it is new (or carries no session) and must be decided.
   */
  check(envelope: CommandEnvelope, now: number): CommandOutcome | undefined {
    const id = envelope.clientSession;
    if (id === undefined) return undefined;
    const verdict = classifySessionCommand(this.#records.get(id.session), id, envelope.fingerprint ?? "", now);
    if (verdict.kind === "new") return undefined;
    this.#records.touch(id.session, now);
    switch (verdict.kind) {
      case "replay": {
        const answer = verdict.answer;
        if (answer.kind === "rejected") return { ok: false, problem: answer.problem, replayed: true };
        const result: CommandResult = {
          type: envelope.entityType,
          id: envelope.entityId,
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
    this.#records.put(id.session, recordAnswer(id, envelope.fingerprint ?? "", stored, now));
    if (now - this.#purgedAt < PURGE_EVERY_MS) return;
    this.#purgedAt = now;
    this.#records.deleteTouchedBefore(now - CLIENT_SESSION_RETENTION_MS);
  }
}
