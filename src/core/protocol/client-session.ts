// Exactly-once commands from offline-capable clients: an idempotent receiver with client sessions
// and a low-water mark (Patterns of Distributed Systems, "Idempotent Receiver"). Owns the header
// grammar of a client command's identity and the rule an entity applies to it; storage is the
// entity host's (edge/entity/client-session-store.ts).
//
// The protocol. A client picks a random session id once and numbers its commands 1, 2, 3… in the
// order they were made (one counter for all entities). To each entity it sends its commands in
// that order and one at a time: the next command to an entity only once it holds the answer to
// the previous one (retrying the same number until it does). So a command numbered n reaching an
// entity acknowledges the answers of every earlier command of that session to that entity: the
// session's low-water mark at that entity is the last number it applied. The entity therefore
// keeps, per session that touched it, one record: the last applied number and that command's
// answer. A retry of that number is answered from the record; a lower number is a command whose
// answer the client already had (answered as a duplicate, never decided again); a higher one is
// new. Storage is one row per (session, entity), removed after CLIENT_SESSION_RETENTION_MS
// without use (any command of the session reaching the entity counts as use).
import { problem, type Problem } from "../http/problem.js";
import type { CommandResult } from "../model/envelope.js";

/** A session id: 16-64 of A-Z a-z 0-9 _ - (a UUID or 128 random bits in base64url fit). */
const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;
/** A command number: 1 to 2^53 - 1, decimal without leading zeros. */
const SEQUENCE = /^[1-9]\d{0,15}$/;

/** The request headers that carry a client command's identity. */
export const CLIENT_SESSION_HEADER = "Factline-Client-Session";
export const CLIENT_SEQUENCE_HEADER = "Factline-Client-Seq";

/** What a malformed `Factline-Client-Session` is told (the router's bound and this grammar alike). */
export const CLIENT_SESSION_RULE = `${CLIENT_SESSION_HEADER} must be 16-64 of A-Z a-z 0-9 _ - (sent with ${CLIENT_SEQUENCE_HEADER})`;
/** What a malformed `Factline-Client-Seq` is told. */
export const CLIENT_SEQUENCE_RULE = `${CLIENT_SEQUENCE_HEADER} must be a whole number from 1 to 2^53 - 1 (sent with ${CLIENT_SESSION_HEADER})`;

/**
 * How long an entity keeps a session's record after its last use: 180 days. A retry of a command
 * whose answer was lost is deduplicated if it reaches the entity within this time of the previous
 * attempt that reached it; a command that never reached the entity has no deadline at all.
 */
export const CLIENT_SESSION_RETENTION_MS = 180 * 24 * 60 * 60 * 1000;

/** One command's identity in its client session. */
export interface ClientCommandId {
  readonly session: string;
  /** 1, 2, 3… per session, in the order the client made its commands. */
  readonly seq: number;
}

/**
 * The answer an entity gave a session's command: what a retry of it is answered again. An applied
 * command is kept as the range of the log it recorded (its events are immutable and stay in the
 * log), so a record is a few dozen bytes whatever the events weigh.
 */
export type SessionAnswer =
  | { readonly kind: "applied"; readonly version: number; readonly events: number }
  | { readonly kind: "rejected"; readonly problem: Problem };

/** The stored form of an applied command's answer. */
export function appliedAnswer(result: CommandResult): SessionAnswer {
  return { kind: "applied", version: result.version, events: result.events.length };
}

/** What an entity remembers of one session: the last command it decided and its answer. */
export interface SessionRecord {
  readonly seq: number;
  /** Digest of (command, body): a retry must be the same command (see fingerprint.ts). */
  readonly fingerprint: string;
  readonly answer: SessionAnswer;
  /** When the session last reached this entity (epoch ms): a decision or a retry answered from the record. */
  readonly touchedAt: number;
}

/** What to do with an incoming session command. */
export type SessionVerdict =
  /** Not seen: decide it, then record its answer. */
  | { readonly kind: "new" }
  /** The last command decided, sent again (its answer was lost): answer it again. */
  | { readonly kind: "replay"; readonly answer: SessionAnswer }
  /** The same number with another command or body. */
  | { readonly kind: "reused"; readonly problem: Problem }
  /** Below the low-water mark: the client already had its answer. */
  | { readonly kind: "duplicate"; readonly problem: Problem };

/** Whether a record still counts at `now`: expired records are treated as absent. */
export function isLive(record: SessionRecord, now: number): boolean {
  return record.touchedAt >= now - CLIENT_SESSION_RETENTION_MS;
}

/**
 * The receiver's rule: how an entity whose record of the session is `record` treats command `id`
 * with `fingerprint`, at `now` (epoch ms). Pure; the caller decides only on `new`, and records the
 * answer of a decided command (applied or rejected by a business rule) with `recordAnswer`.
 */
export function classifySessionCommand(
  record: SessionRecord | undefined,
  id: ClientCommandId,
  fingerprint: string,
  now: number,
): SessionVerdict {
  if (record === undefined || !isLive(record, now) || id.seq > record.seq) return { kind: "new" };
  if (id.seq === record.seq) {
    if (record.fingerprint !== fingerprint) {
      return {
        kind: "reused",
        problem: problem(
          "client-sequence-reused",
          `command ${id.seq} of this client session was another command or body`,
        ),
      };
    }
    return { kind: "replay", answer: record.answer };
  }
  return {
    kind: "duplicate",
    problem: problem(
      "client-command-answered",
      `command ${id.seq} of this client session was answered before command ${record.seq}, which this entity has decided; it is not decided again`,
    ),
  };
}

/** The record to keep after deciding command `id` with `answer` at `now`. */
export function recordAnswer(
  id: ClientCommandId,
  fingerprint: string,
  answer: SessionAnswer,
  now: number,
): SessionRecord {
  return { seq: id.seq, fingerprint, answer, touchedAt: now };
}

/** A refused pair of session headers: a 400 naming the header. */
export type ClientSessionHeaders =
  | { readonly ok: true; readonly id: ClientCommandId | null }
  | { readonly ok: false; readonly problem: Problem };

/**
 * Reads `Factline-Client-Session` and `Factline-Client-Seq` (both or neither). Refuses, as 400
 * `malformed-request`, a malformed value, one header without the other, and a session command
 * that also carries an Idempotency-Key (one deduplication per command, so a replay is never
 * ambiguous about which record answered it).
 */
export function parseClientSessionHeaders(
  session: string | undefined,
  seq: string | undefined,
  idempotencyKey: string | null,
): ClientSessionHeaders {
  if (session === undefined && seq === undefined) return { ok: true, id: null };
  const refuse = (path: string, message: string): ClientSessionHeaders => ({
    ok: false,
    problem: problem("malformed-request", message, { errors: [{ path, message }] }),
  });
  if (session === undefined || !SESSION_ID.test(session)) return refuse(CLIENT_SESSION_HEADER, CLIENT_SESSION_RULE);
  if (seq === undefined || !SEQUENCE.test(seq) || !Number.isSafeInteger(Number(seq)))
    return refuse(CLIENT_SEQUENCE_HEADER, CLIENT_SEQUENCE_RULE);
  if (idempotencyKey !== null) {
    return refuse(
      "Idempotency-Key",
      `a command with ${CLIENT_SESSION_HEADER} is deduplicated by its session; send no Idempotency-Key`,
    );
  }
  return { ok: true, id: { session, seq: Number(seq) } };
}
