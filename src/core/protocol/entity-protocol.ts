// The contract of an entity object, as its callers see it: the tenant API (edge) sends commands
// and reads; the projection consumer (cloud) reads log ranges to repair gaps. Both reach the
// object only through its Durable Object binding. Every method that can refuse answers in the one
// shape of refusable.ts (`ok: true` and its result, or `ok: false` and a Problem), so its callers
// narrow on `ok` alike; `null` is not a refusal but an entity with nothing recorded.
import type { CommandResult, EntitySnapshotView, EventPage, RecordedEvent } from "../model/envelope.js";
import type { ClientCommandId } from "./client-session.js";
import type { IfMatch } from "./if-match.js";
import type { FactsQueueMessage } from "./cloud-event.js";
import { acceptedOrThrow, type Refusable, type Refusal } from "./refusable.js";

export interface EntityAddress {
  readonly tenant: string;
  readonly entityType: string;
  readonly entityId: string;
}

export interface CommandEnvelope extends EntityAddress {
  readonly command: string;
  /** Already validated against the command's schema at the boundary. */
  readonly data: unknown;
  readonly idempotencyKey: string | null;
  /** The command's identity in an offline client's session: decided at most once, whatever the delay (client-session.ts). */
  readonly clientSession?: ClientCommandId;
  /** Digest of (command, body) that the idempotency key or client session number is bound to. */
  readonly fingerprint: string | null;
  readonly expectedVersion: number | null;
  /** An If-Match precondition (RFC 9110); when present it is checked instead of `expectedVersion`. */
  readonly ifMatch?: IfMatch;
  /** Clock of the event that caused this command, if any (sagas carry it forward). */
  readonly causeHlc: string | null;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly traceparent: string | null;
  /**
   * When the tenant API sent the command (ms since epoch): the object sheds it (429 `overloaded`)
   * if it waited longer than ENTITY_MAX_QUEUE_DELAY_MS to start. Absent for internal callers
   * (sagas), whose commands are never shed for delay.
   */
  readonly sentAt?: number;
  /**
   * The caller puts the facts this command records on the facts queue itself (the tenant API's
   * Worker, which batches them with other entities' facts: one `sendBatch` for many commands).
   * The outcome then carries them (`handOff`), the entity's relay counts them as sent, and the
   * caller must report a failed send (`EntityRpc.handOffFailed`). Absent: the entity sends them.
   */
  readonly callerRelays?: boolean;
}

/**
 * Facts an entity's relay handed to its command's caller to send (`CommandEnvelope.callerRelays`):
 * the next run of its outbox in log order, from `fromSeq`, within one `sendBatch`'s limits, each
 * message with its size as the queue counts it (UTF-8 bytes plus per-message metadata).
 */
export interface HandOff {
  readonly fromSeq: number;
  readonly messages: readonly { readonly body: FactsQueueMessage; readonly bytes: number }[];
}

/** A command's refusal: a rejection by the domain, or the runtime's (refusable.ts). */
export interface CommandRefusal extends Refusal {
  /** True when the refusal is a client session's stored answer, given again (not decided now). */
  readonly replayed?: true;
  /** The entity's version when If-Match failed (412): the refusal's ETag (RFC 9110 §13.1.1), for a retry. */
  readonly currentVersion?: number;
}

/** What a command comes to: its result, or its refusal. */
export type CommandOutcome = Refusable<
  {
    readonly result: CommandResult;
    readonly replayed: boolean;
    /** Facts for the caller to send, when it relays (`CommandEnvelope.callerRelays`) and the relay handed any off. */
    readonly handOff?: HandOff;
  },
  CommandRefusal
>;

/**
 * What reading an entity's state comes to (the entity's object answers null instead when the
 * entity has no events): the state, or the refusal of a log that cannot be folded into a state
 * (500 `state-unfoldable`: a stored event of a type the definition no longer declares, or an
 * evolve that returned undefined).
 */
export type EntityRead = Refusable<{ readonly view: EntitySnapshotView }>;

/** The state a read found, or null when the entity has no events; throws the read's refusal as a `ProblemError`. */
export function readView(read: EntityRead | null): EntitySnapshotView | null {
  return read === null ? null : acceptedOrThrow(read).view;
}

/**
 * A read of an entity's log after a reader's position: the page, or the refusal of a position
 * past the log's head (400 `cursor-past-end`, log-cursor.ts), decided by the entity's object in
 * the read's own step.
 */
export type EventsRead = Refusable<{ readonly page: EventPage }>;

/**
 * What a reader of an entity's log (the consumer's gap repair, a rebuild) makes of an `events`
 * answer: its page, or null when nothing follows the reader's cursor (the entity has no events, or
 * the cursor is at or past its head: a 4xx refusal). Throws the refusal's detail when the log
 * cannot be read on (a 5xx: an event whose upcaster fails), so the reader's step fails with why
 * instead of taking the entity for read to its end.
 */
export function pageOrNothing(read: EventsRead | null): EventPage | null {
  if (read === null) return null;
  if (read.ok) return read.page;
  if (read.problem.status >= 500) throw new Error(read.problem.detail);
  return null;
}

/** A page of an entity's log with the entity's version at the time it was read. */
export interface LogRead {
  readonly events: readonly RecordedEvent[];
  readonly version: number;
}

export interface EntityRpc {
  command(envelope: CommandEnvelope): Promise<CommandOutcome>;
  /** Current state, or as of version `at`; null when the entity has no events, a refusal when its log cannot be folded (see EntityRead). */
  read(address: EntityAddress, at: number | null): Promise<EntityRead | null>;
  /**
   * Events after `after`, at most `limit`; null when the entity has no events, a refusal when
   * `after` is past its latest event. Served from the log alone, so a log whose state cannot be
   * folded can still be read (and rebuilt from), up to an event whose stored payload cannot be
   * lifted to its current version (an upcaster that fails): the page ends before it, and a page
   * that would start at it is refused 500 `state-unfoldable` naming it.
   */
  events(address: EntityAddress, after: number, limit: number): Promise<EventsRead | null>;
  /**
   * Events after `after` (at most `limit`) and the entity's version (0 before its first event);
   * when none is after `after`, waits up to `waitMs` for the next. Null for an unknown type; a
   * page ends, or is refused, at an event that cannot be lifted, as `events` does.
   * Serves entity logs as Durable Streams (edge/streams/entity-stream-routes.ts).
   */
  streamRead(address: EntityAddress, after: number, limit: number, waitMs: number): Promise<Refusable<LogRead> | null>;
  /** The facts consumer has applied everything up to `seq` (bounds the entity's backlog). */
  acknowledge(address: EntityAddress, seq: number): Promise<void>;
  /**
   * The caller could not put a `HandOff` starting at `fromSeq` on the queue: the entity's relay
   * sends from there again itself, backing off as after a failed send of its own.
   */
  handOffFailed(address: EntityAddress, fromSeq: number): Promise<void>;
  /**
   * Live subscription (SSE or WebSocket upgrade) on `/live?tenant&type&id&after`; a position past
   * the entity's latest event is answered 400 `cursor-past-end` (problem+json), nothing opened.
   */
  fetch(request: Request): Promise<Response>;
}
