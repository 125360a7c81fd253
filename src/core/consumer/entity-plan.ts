// The fact consumer's per-entity rules as pure functions: from the facts a batch carries for one
// entity (and those read back from its log), the checkpoints it read, and the live generations,
// what to apply to each projection generation, what to hand the sagas, when the log must be read
// to repair a gap, how far the entity may be acknowledged, and what a failure turns into (a retry
// with backoff, or a dead letter after the last attempt). The consumer's batch sequence
// (consumer-host.ts), which production's queue handler and the simulator share, runs exactly
// these; only the ports under it differ (D1, entity RPC and queue acks there; models in the
// simulator).
import type { RecordedEvent } from "../model/envelope.js";
import { backoffDelay, type BackoffPolicy } from "../resilience/backoff.js";

/** One entity's facts as the consumer holds them: those the batch carried, and those read back. */
export interface EntityFacts {
  readonly events: ReadonlyMap<number, RecordedEvent>;
  readonly repaired: ReadonlyMap<number, RecordedEvent>;
}

/**
 * Test-only switches that re-introduce fixed defects, so the simulator can show it finds them
 * (`npm run sim:mutants`). Production never sets one.
 */
export interface ConsumerMutations {
  /**
   * FINDINGS F5: hand the sagas only the facts the batch itself carries (no gap repair from the
   * sagas' own checkpoint), and advance their checkpoint anyway.
   */
  readonly sagasSkipGapRepair?: boolean;
}

/** The newest seq among the batch's own facts for this entity. */
export function newestSeq(facts: EntityFacts): number {
  let newest = 0;
  for (const seq of facts.events.keys()) if (seq > newest) newest = seq;
  return newest;
}

/** The facts after `from` up to `upTo`, as far as they run without a gap (batch first, then repaired). */
export function contiguousRun(facts: EntityFacts, from: number, upTo: number): RecordedEvent[] {
  const run: RecordedEvent[] = [];
  for (let seq = from + 1; seq <= upTo; seq++) {
    const event = facts.events.get(seq) ?? facts.repaired.get(seq);
    if (!event) break;
    run.push(event);
  }
  return run;
}

/** What to do for one projection generation of one entity. */
export type TargetPlan =
  /** Its checkpoint is at or past the batch: everything here is applied (a duplicate or a late fact). */
  | { readonly kind: "skip" }
  /** Apply these contiguous facts, after `from`, guarded by the checkpoint at `from`. */
  | { readonly kind: "apply"; readonly from: number; readonly events: readonly RecordedEvent[] }
  /** A gap: read facts `from + 1..upTo` from the entity's log (the truth), then plan again. */
  | { readonly kind: "repair"; readonly from: number; readonly upTo: number }
  /**
   * The generation a rebuild fills is behind: the rebuilder reads the entity's log in pages (and
   * re-scans before its switch), so repairing here would read whole logs into memory (F15).
   */
  | { readonly kind: "leave-to-rebuilder" };

/**
 * Plans one projection generation whose checkpoint is `from`, for an entity whose newest fact in
 * the batch is `upTo`. `building`: the generation is the one a rebuild is filling.
 */
export function planTarget(facts: EntityFacts, from: number, upTo: number, building: boolean): TargetPlan {
  if (upTo <= from) return { kind: "skip" };
  const events = contiguousRun(facts, from, upTo);
  if (events.length === upTo - from) return { kind: "apply", from, events };
  if (building) return { kind: "leave-to-rebuilder" };
  return { kind: "repair", from, upTo };
}

/** What to hand the sagas for one entity, from their own checkpoint `from` (F5: never the projections'). */
export type SagaPlan =
  /** Nothing new for the sagas (or the app has none): their checkpoint stays. */
  | { readonly kind: "none" }
  /** Facts no saga follows: the checkpoint advances to `upTo` without a delivery. */
  | { readonly kind: "advance"; readonly upTo: number }
  /** Hand these facts to their sagas, then advance the checkpoint to `upTo`. */
  | { readonly kind: "deliver"; readonly events: readonly RecordedEvent[]; readonly upTo: number }
  /** A gap since the sagas' checkpoint: read `from + 1..upTo` from the entity, then plan again. */
  | { readonly kind: "repair"; readonly from: number; readonly upTo: number };

/**
 * Plans the sagas' share of one entity's facts. `concerns` says whether any saga follows any of
 * the facts. A fact lost on the way that starts a saga reaches the cloud only through this repair.
 */
export function planSagas(
  facts: EntityFacts,
  from: number,
  hasSagas: boolean,
  concerns: (events: readonly RecordedEvent[]) => boolean,
  mutations: ConsumerMutations = {},
): SagaPlan {
  const upTo = newestSeq(facts);
  if (!hasSagas || upTo <= from) return { kind: "none" };
  if (mutations.sagasSkipGapRepair) {
    const own = [...facts.events.values()].filter((e) => e.seq > from).sort((a, b) => a.seq - b.seq);
    return concerns(own) ? { kind: "deliver", events: own, upTo } : { kind: "advance", upTo };
  }
  const events = contiguousRun(facts, from, upTo);
  if (events.length < upTo - from) return { kind: "repair", from, upTo };
  return concerns(events) ? { kind: "deliver", events, upTo } : { kind: "advance", upTo };
}

/** Whether facts read back from the log cover exactly `from + 1..upTo` (else the log itself is short). */
export function repairComplete(read: readonly RecordedEvent[], from: number, upTo: number): boolean {
  return read.length === upTo - from && read.every((e, i) => e.seq === from + 1 + i);
}

/** Equal to the queue's max_retries (wrangler.toml): the last attempt records a dead letter itself. */
export const CONSUMER_MAX_ATTEMPTS = 5;
export const CONSUMER_RETRY: BackoffPolicy = { baseMs: 1_000, maxMs: 60_000 };

/** What a failed message turns into on its `attempts`-th attempt (counting from 1). */
export type FailureDisposition =
  | { readonly kind: "dead-letter" }
  | { readonly kind: "retry"; readonly delaySeconds: number };

/** A failed message retries with growing delay, and after the last attempt is recorded as a dead letter. */
export function onFailure(
  attempts: number,
  maxAttempts: number = CONSUMER_MAX_ATTEMPTS,
  policy: BackoffPolicy = CONSUMER_RETRY,
): FailureDisposition {
  if (attempts >= maxAttempts) return { kind: "dead-letter" };
  return { kind: "retry", delaySeconds: Math.ceil(backoffDelay(attempts, policy) / 1000) };
}
