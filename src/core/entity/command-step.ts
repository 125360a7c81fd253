// The entity's command step as a pure function: given the entity's memory image, a command and
// what its host looked up (the idempotency record, the relay's backlog), decide whether the
// command is replayed, refused, or recorded — and if recorded, the stamped facts (seq, clock,
// metadata), the new state and version, the response to store under the idempotency key, and
// whether a snapshot is due. The host (edge/entity/entity-actor.ts) then writes all of it in one
// synchronous storage transaction; the simulator (src/simulation/) writes it to its own model of
// that storage. One implementation of the rule for both.
import { factMessage, MAX_FACT_MESSAGE_BYTES, type FactMessage } from "../protocol/cloud-event.js";
import type { CommandEnvelope } from "../protocol/entity-protocol.js";
import { decodeHlc, decodeStoredHlc, encodeHlc, tick, type Hlc } from "../protocol/hlc.js";
import { ifMatchSatisfied, type IfMatch } from "../protocol/if-match.js";
import { problem, type Problem } from "../http/problem.js";
import { isRejection, UnfoldableEvent, type EntityType } from "../model/entity.js";
import { eventDataProblem, unfoldableProblem } from "./domain-bugs.js";
import { jsonIssue } from "../model/plain-json.js";
import type { CommandResult, RecordedEvent } from "../model/envelope.js";

/** What the idempotency store knows of a command's key (see edge/entity/idempotency-store.ts). */
export type IdempotencyLookup =
  | { readonly kind: "new" }
  | { readonly kind: "replay"; readonly result: CommandResult }
  | { readonly kind: "mismatch" };

/** The entity as its host holds it in memory: state, version and the newest event's clock. */
export interface MemoryImage {
  readonly state: unknown;
  readonly version: number;
  /** The stored text when the head's clock does not decode (commands then fail loudly). */
  readonly hlc: Hlc | string;
}

export interface CommandStepInput {
  readonly entity: EntityType;
  readonly image: MemoryImage;
  readonly envelope: CommandEnvelope;
  /** ms since epoch: the facts' wall clock and `recordedAt`. */
  readonly now: number;
  /** The key's record, or null when the command carries no key. */
  readonly idempotency: IdempotencyLookup | null;
  /** Facts recorded and not yet acknowledged by the consumer, and the most allowed (ENTITY_MAX_BACKLOG). */
  readonly backlog: number;
  readonly maxBacklog: number;
  /** Retry-After (s) for a command shed because the backlog is full. */
  readonly backlogRetryAfterS: number;
  /** A fresh event id per fact (crypto.randomUUID in production; seeded in the simulator). */
  readonly newEventId: () => string;
}

/** What the step decided. */
export type CommandStep =
  | {
      readonly kind: "refused";
      readonly problem: Problem;
      /** The entity's version, when the refusal is If-Match's (412): the answer's ETag, for a retry. */
      readonly currentVersion?: number;
    }
  /** The entity's own `decide` said no (422 `business-rule`): an answer a client session keeps. */
  | { readonly kind: "rejected"; readonly problem: Problem }
  | { readonly kind: "replay"; readonly result: CommandResult }
  | {
      readonly kind: "record";
      readonly recorded: readonly RecordedEvent[];
      /** Each fact with the queue message the relay sends, encoded and measured once, here. */
      readonly facts: readonly { readonly event: RecordedEvent; readonly message: FactMessage }[];
      readonly image: MemoryImage;
      readonly result: CommandResult;
      /** Whether the new version crosses a multiple of the entity's `snapshotEvery` (and the state is plain JSON). */
      readonly snapshot: boolean;
      /** Why the snapshot due at this version is not written: where the state stops being plain JSON. */
      readonly snapshotSkipped?: string;
    };

/**
 * Decides one command: idempotency (replay, or 422 `idempotency-key-reused`), the If-Match
 * precondition (412), the backlog bound (429 `backlog-full`), the entity's own `decide` (422
 * `business-rule`), each decided event (500 `event-data-not-json` when its data is not plain
 * JSON, 500 `state-unfoldable` when its type is undeclared or `evolve` returns undefined for it:
 * the domain's bugs, recorded never), the clock (an undecodable head throws: a bug or a corrupt
 * log, never a client's fault), and the fact size bound (413 `fact-too-large`: facts are
 * immutable, so one the queue could never carry must not be recorded). A decision with no events
 * is recorded too (the key then replays it).
 */
export function commandStep(input: CommandStepInput): CommandStep {
  const { entity, image, envelope, now } = input;
  const seen = input.idempotency;
  if (seen?.kind === "replay") return { kind: "replay", result: seen.result };
  if (seen?.kind === "mismatch") {
    return {
      kind: "refused",
      problem: problem("idempotency-key-reused", "this Idempotency-Key was first used with another command or body"),
    };
  }
  const precondition: IfMatch | null =
    envelope.ifMatch ??
    (envelope.expectedVersion === null ? null : { kind: "versions", versions: [envelope.expectedVersion] });
  if (precondition !== null && !ifMatchSatisfied(precondition, image.version)) {
    return {
      kind: "refused",
      problem: problem(
        "version-mismatch",
        `If-Match does not name version ${image.version}, the entity's current version`,
      ),
      currentVersion: image.version,
    };
  }
  if (input.backlog >= input.maxBacklog) {
    return {
      kind: "refused",
      problem: problem("backlog-full", `${input.backlog} facts are waiting to reach the read models`, {
        retryAfter: input.backlogRetryAfterS,
      }),
    };
  }
  const decision = entity.decide(image.state, { type: envelope.command, data: envelope.data });
  if (isRejection(decision))
    return { kind: "rejected", problem: problem("business-rule", decision.detail, { code: decision.code }) };

  // The host checked the cause clock (checkCommandMetadata): well-formed and within the drift bound.
  const cause = envelope.causeHlc === null ? undefined : decodeHlc(envelope.causeHlc);
  let hlc = typeof image.hlc === "string" ? decodeStoredHlc(image.hlc) : image.hlc;
  let state = image.state;
  const recordedAt = new Date(now).toISOString();
  const recorded: RecordedEvent[] = [];
  for (const event of decision) {
    const seq = image.version + recorded.length + 1;
    // Checked before anything is stored: the log is JSON, and the memory image must be what a
    // restart reads back from it (about 0.15 µs for a typical event: README "Defining an entity").
    const issue = jsonIssue(event.data, "data");
    if (issue !== null) return { kind: "refused", problem: eventDataProblem(envelope, event.type, issue) };
    try {
      state = entity.evolve(state, { type: event.type, data: event.data, seq });
    } catch (error) {
      if (error instanceof UnfoldableEvent)
        return { kind: "refused", problem: unfoldableProblem(envelope, error, true) };
      throw error;
    }
    hlc = tick(hlc, now, cause);
    recorded.push({
      seq,
      type: event.type,
      schemaVersion: entity.eventVersion(event.type),
      data: event.data,
      meta: {
        eventId: input.newEventId(),
        tenant: envelope.tenant,
        entityType: envelope.entityType,
        entityId: envelope.entityId,
        hlc: encodeHlc(hlc),
        recordedAt,
        correlationId: envelope.correlationId,
        causationId: envelope.causationId,
        idempotencyKey: envelope.idempotencyKey,
        traceparent: envelope.traceparent,
      },
    });
  }
  const facts = recorded.map((event) => ({ event, message: factMessage(event) }));
  const tooLarge = facts.find((f) => f.message.bytes > MAX_FACT_MESSAGE_BYTES)?.message;
  if (tooLarge) {
    return {
      kind: "refused",
      problem: problem(
        "fact-too-large",
        `the ${tooLarge.body.eventtype} fact would be ${tooLarge.bytes} bytes as a queue message; at most ${MAX_FACT_MESSAGE_BYTES} can be relayed`,
      ),
    };
  }
  const version = image.version + recorded.length;
  const every = entity.snapshotEvery;
  const due = Math.floor(version / every) > Math.floor(image.version / every);
  // A snapshot is read back as JSON: of a state that is not plain JSON (evolve built a Date, a
  // Map…), a restart would start from another state than this one. Without it, a restart folds
  // the log, which gives this very state again.
  const unsnapshottable = due ? jsonIssue(state, "state") : null;
  return {
    kind: "record",
    recorded,
    facts,
    image: { state, version, hlc },
    result: { type: envelope.entityType, id: envelope.entityId, version, events: recorded },
    snapshot: due && unsnapshottable === null,
    ...(unsnapshottable === null ? {} : { snapshotSkipped: unsnapshottable }),
  };
}
