// The client-session invariant, as an oracle independent of the entity's own records: for every
// (entity, session) it keeps what the entity must have decided last (the number, the fingerprint
// and the answer), from every command outcome the world sees — answers the client lost included —
// and checks each new outcome against the rule of src/core/protocol/client-session.ts: a number
// above the last decided one is new; the last one sent again is answered again, the same events
// or the same rejection, and records nothing; the same number with another body is refused as
// reused; a lower one is refused as already answered. So a session's command is recorded at most
// once and all its answers agree.
import { problem, type ProblemKind } from "../core/http/problem.js";
import type { CommandEnvelope, CommandOutcome } from "../core/protocol/entity-protocol.js";

/** A decided answer as the oracle keeps it: the event ids an applied command recorded, or the rejection. */
type Decided =
  | { readonly kind: "applied"; readonly version: number; readonly eventIds: string }
  | { readonly kind: "rejected"; readonly type: string; readonly code: string | undefined };

interface LastDecided {
  readonly seq: number;
  readonly fingerprint: string;
  readonly answer: Decided;
  /** The entity object's incarnation that decided it. */
  readonly incarnation: number;
}

/** Counts of what the session commands met, so a test can tell the workload reached each rule. */
export interface SessionCounts {
  decided: number;
  replayed: number;
  /** Answered again by a later incarnation of the entity object (after an eviction), from storage alone. */
  replayedAfterEviction: number;
  answeredBefore: number;
  reused: number;
}

/** The stable `type` URI of a problem kind. */
const type = (kind: ProblemKind): string => problem(kind, "").type;
/** Refusals that come before the session rule (queue delay, metadata bounds) or leave the number free (backlog, If-Match, size). */
const UNDECIDED = new Set(
  (["overloaded", "malformed-request", "backlog-full", "version-mismatch", "fact-too-large"] as const).map(type),
);

export class SessionLedger {
  readonly counts: SessionCounts = { decided: 0, replayed: 0, replayedAfterEviction: 0, answeredBefore: 0, reused: 0 };
  readonly #last = new Map<string, LastDecided>();

  /**
   * Checks the outcome of a session command at the entity `entityKey`, in the object's
   * `incarnation` (ignores other commands); returns what broke the rule, or undefined.
   */
  observe(
    entityKey: string,
    incarnation: number,
    envelope: CommandEnvelope,
    outcome: CommandOutcome,
  ): string | undefined {
    const id = envelope.clientSession;
    if (id === undefined) return undefined;
    const where = `${entityKey}: session command ${id.seq}`;
    const lane = `${entityKey}|${id.session}`;
    const fingerprint = envelope.fingerprint ?? "";
    const last = this.#last.get(lane);
    const answer = decided(outcome);
    if (!outcome.ok && UNDECIDED.has(outcome.problem.type)) return undefined;
    if (last === undefined || id.seq > last.seq) {
      if (!answer || (outcome.ok && outcome.replayed))
        return `${where} (new) was answered ${describe(outcome)} instead of being decided`;
      this.#last.set(lane, { seq: id.seq, fingerprint, answer, incarnation });
      this.counts.decided++;
      return undefined;
    }
    if (id.seq < last.seq) {
      if (outcome.ok || outcome.problem.type !== type("client-command-answered"))
        return `${where}, below ${last.seq}, was answered ${describe(outcome)}, not as answered before`;
      this.counts.answeredBefore++;
      return undefined;
    }
    if (fingerprint !== last.fingerprint) {
      if (outcome.ok || outcome.problem.type !== type("client-sequence-reused"))
        return `${where} with another body was answered ${describe(outcome)}, not as a reused number`;
      this.counts.reused++;
      return undefined;
    }
    if (outcome.ok && !outcome.replayed) return `${where} was recorded twice`;
    if (!answer || JSON.stringify(answer) !== JSON.stringify(last.answer))
      return `${where} sent again was answered ${describe(outcome)}, first ${JSON.stringify(last.answer)}`;
    this.counts.replayed++;
    if (incarnation !== last.incarnation) this.counts.replayedAfterEviction++;
    return undefined;
  }
}

/** The decided answer an outcome carries: applied events or a business-rule rejection; undefined for any other refusal. */
function decided(outcome: CommandOutcome): Decided | undefined {
  if (outcome.ok) {
    const { version, events } = outcome.result;
    return { kind: "applied", version, eventIds: events.map((e) => e.meta.eventId).join() };
  }
  if (outcome.problem.type !== type("business-rule")) return undefined;
  return { kind: "rejected", type: outcome.problem.type, code: outcome.problem.code };
}

function describe(outcome: CommandOutcome): string {
  if (!outcome.ok) return outcome.problem.type.slice(outcome.problem.type.lastIndexOf("/") + 1);
  return `${outcome.replayed ? "a replay of" : "applied"} version ${outcome.result.version}`;
}
