// The outbox relay's rules as a pure state machine: what to send next, within the queue's
// limits; what an accepted batch, a refused batch and an acknowledgement do to the relay's
// cursors; when a probe (a re-send of the newest unacknowledged fact) is due; and when the alarm
// must fire. The relay's host (relay-host.ts) performs their effects in order, over ports the
// Durable Object (edge/entity/outbox-relay.ts: SQL rows and a real queue) and the simulator
// (src/simulation/entity-host.ts: plain data and a simulated queue) give it.
//
// The state splits as a Durable Object's does: `RelayCursors` are durable (a row beside the log),
// `RelayMemory` lives in memory only and is lost on eviction, which these rules must survive.
//
// The outbox is the log itself (the transaction-log-tailing form of the transactional outbox):
// what the queue must still take is the log from `pendingFrom` to its head, so recording a fact
// stages it, and an accepted batch moves one cursor instead of deleting a row per fact.
import { QUEUE_LIMITS } from "../protocol/cloud-event.js";
import { backoffDelay, type BackoffPolicy } from "../resilience/backoff.js";

/** The relay's durable cursors (the `relay_state` row). */
export interface RelayCursors {
  /**
   * The oldest fact the queue must still take: the outbox is the log from here to its head (empty
   * when this is past the head). Only a probe lowers it, to the fact it re-sends. As written it
   * may lag behind what the queue took (saveAfterSend): a restart sends the difference again.
   */
  readonly pendingFrom: number;
  /**
   * The newest seq the queue has accepted, or a command's caller took to send (`handOff` in
   * relay-host.ts); lowered only when such a caller reports that its send failed.
   */
  readonly sentUpTo: number;
  /** The newest seq the consumer acknowledged as applied (never lowered). */
  readonly ackedUpTo: number;
  /** When a probe is due if nothing more is acknowledged (ms since epoch), or null. */
  readonly redeliverAt: number | null;
  /** Probes sent since the last acknowledgement: the ack timeout doubles with each. */
  readonly redeliveries: number;
}

/** What the relay holds only in memory: reset to `RELAY_MEMORY_AT_WAKE` on eviction. */
export interface RelayMemory {
  /** Consecutive failed runs: the alarm backs off by it, commits stop starting sends while > 0. */
  readonly sendFailures: number;
  /** Most messages the next batch may hold: halved by each size rejection, reset by a success. */
  readonly batchCap: number;
}

export const RELAY_CURSORS_AT_START: RelayCursors = {
  pendingFrom: 1,
  sentUpTo: 0,
  ackedUpTo: 0,
  redeliverAt: null,
  redeliveries: 0,
};

/** Queue limits the relay works within, and its timers (all ms). */
export interface RelayPolicy {
  /** Messages per sendBatch (Queues: 100). */
  readonly batchMessages: number;
  /** Bytes per sendBatch as the queue counts them, less headroom for framing (Queues: 256,000). */
  readonly batchBytes: number;
  /** Bytes per message as the queue counts them (Queues: 128,000); above it a fact is parked. */
  readonly messageBytes: number;
  /** Batches one run sends at most; the alarm sends the rest. */
  readonly batchesPerRun: number;
  /** Wait between two sends of one run unless a full batch is pending. */
  readonly sendSpacingMs: number;
  /** An evicted object's alarm sends what it staged after this long. */
  readonly safetyNetMs: number;
  readonly sendRetry: BackoffPolicy;
  /** First wait for an acknowledgement before a probe; doubles per probe up to the max. */
  readonly ackTimeoutMs: number;
  readonly maxAckTimeoutMs: number;
}

/** Cloudflare Queues' producer limits (developers.cloudflare.com/queues/platform/limits) and Factline's timers. */
export const RELAY_POLICY: RelayPolicy = {
  batchMessages: QUEUE_LIMITS.batchMessages,
  batchBytes: QUEUE_LIMITS.batchBytes - 16_000,
  messageBytes: QUEUE_LIMITS.messageBytes,
  batchesPerRun: 20,
  sendSpacingMs: 50,
  safetyNetMs: 5_000,
  sendRetry: { baseMs: 250, maxMs: 30_000 },
  ackTimeoutMs: 30_000,
  maxAckTimeoutMs: 10 * 60_000,
};

export const RELAY_MEMORY_AT_WAKE: RelayMemory = { sendFailures: 0, batchCap: RELAY_POLICY.batchMessages };

/**
 * The consumer applied everything up to `seq` (already bounded by the log's head by the caller).
 * Not clamped to `sentUpTo`: the consumer may apply a batch, or read facts back to repair a gap,
 * before the send that carried them is recorded here; forgetting that would re-send them later.
 * Returns null when nothing changes (an old or repeated acknowledgement).
 */
export function acknowledge(
  c: RelayCursors,
  seq: number,
  now: number,
  policy: RelayPolicy = RELAY_POLICY,
): RelayCursors | null {
  if (seq <= c.ackedUpTo) return null;
  return {
    // What the consumer applied needs no sending (an incarnation woken with an older cursor on
    // disk than its predecessor held would otherwise send it again).
    pendingFrom: Math.max(c.pendingFrom, seq + 1),
    sentUpTo: c.sentUpTo,
    ackedUpTo: seq,
    redeliverAt: seq >= c.sentUpTo ? null : now + policy.ackTimeoutMs,
    redeliveries: 0,
  };
}

/**
 * Whether a probe is due at `now`: facts were sent, stay unacknowledged, and their deadline
 * passed. A probe, not a flood: only the newest unacknowledged fact (`seq`) goes again; if it
 * arrives, the consumer repairs everything before it from the log (its gap repair); if the
 * consumer is merely behind, one message per entity is all it adds (FINDINGS F14). The returned
 * cursors put it back in the outbox, ahead of anything not sent yet (which follows it in the log).
 */
export function probeDue(
  c: RelayCursors,
  now: number,
): { readonly cursors: RelayCursors; readonly seq: number } | null {
  if (c.redeliverAt === null || c.redeliverAt > now || c.ackedUpTo >= c.sentUpTo) return null;
  return {
    cursors: {
      ...c,
      pendingFrom: Math.min(c.pendingFrom, c.sentUpTo),
      redeliveries: c.redeliveries + 1,
      redeliverAt: null,
    },
    seq: c.sentUpTo,
  };
}

/**
 * The queue accepted a batch whose newest fact is `lastSeq`: the outbox starts after it, `sentUpTo`
 * moves, and the ack deadline is set.
 */
export function batchAccepted(
  c: RelayCursors,
  lastSeq: number,
  now: number,
  policy: RelayPolicy = RELAY_POLICY,
): RelayCursors {
  const sentUpTo = Math.max(c.sentUpTo, lastSeq);
  // Facts already acknowledged (they reached the consumer another way) need no deadline.
  const redeliverAt =
    c.ackedUpTo < sentUpTo ? (c.redeliverAt ?? now + ackTimeout(c.redeliveries, policy)) : c.redeliverAt;
  return { ...c, pendingFrom: Math.max(c.pendingFrom, lastSeq + 1), sentUpTo, redeliverAt };
}

/**
 * A command's caller could not send the facts it took from `fromSeq` on (relay-host.ts,
 * `handOffFailed`): they go back into the outbox, all but what the consumer acknowledged
 * meanwhile, and are no longer counted as sent (later facts the caller took are sent again with
 * them: duplicates, which the consumer absorbs). Null when nothing changes: everything from
 * `fromSeq` is acknowledged, or already back in the outbox.
 */
export function handOffFailed(c: RelayCursors, fromSeq: number): RelayCursors | null {
  const pendingFrom = Math.max(Math.min(c.pendingFrom, fromSeq), c.ackedUpTo + 1);
  const sentUpTo = Math.min(c.sentUpTo, fromSeq - 1);
  if (pendingFrom === c.pendingFrom && sentUpTo === c.sentUpTo) return null;
  return { ...c, pendingFrom, sentUpTo, redeliverAt: c.ackedUpTo >= sentUpTo ? null : c.redeliverAt };
}

/**
 * Whether the cursors an accepted batch moved (`next`) are written at once, or left in memory for
 * the acknowledgement of that batch to write with its own cursor (one `relay_state` row written
 * per send-and-acknowledge cycle instead of two: SQLite-backed Durable Objects bill by rows
 * written). Written at once when no acknowledgement is due to carry them (everything sent is
 * acknowledged already), and when more than one batch's worth of sends would stay unwritten, which
 * bounds what an object restarted before the acknowledgement sends again (duplicates, which the
 * consumer absorbs). While they are unwritten an acknowledgement is outstanding, so the alarm
 * stays armed (the commit's safety net, whose run writes them) and what is on disk as pending
 * still leaves.
 * `saved`: the cursors as last written.
 */
export function saveAfterSend(saved: RelayCursors, next: RelayCursors, policy: RelayPolicy = RELAY_POLICY): boolean {
  return next.ackedUpTo >= next.sentUpTo || next.pendingFrom - saved.pendingFrom > policy.batchMessages;
}

function ackTimeout(redeliveries: number, policy: RelayPolicy): number {
  return Math.min(policy.maxAckTimeoutMs, policy.ackTimeoutMs * 2 ** redeliveries);
}

/** Whether a fact of `bytes` (as a queue message) can never travel the queue and must be parked. */
export function overMessageLimit(bytes: number, policy: RelayPolicy = RELAY_POLICY): boolean {
  return bytes > policy.messageBytes;
}

/**
 * How many of the next messages (sizes in queue bytes, in log order) one batch takes: as many as
 * fit the batch's byte limit, at least one (a lone message over it is the queue's to refuse).
 */
export function batchLength(sizes: Iterable<number>, policy: RelayPolicy = RELAY_POLICY): number {
  let n = 0;
  let bytes = 0;
  for (const size of sizes) {
    if (n > 0 && bytes + size > policy.batchBytes) break;
    n++;
    bytes += size;
  }
  return n;
}

/**
 * Groups hand-offs (relay-host.ts, `handOff`; each given as its messages' sizes in queue bytes)
 * into as few sends as the queue's limits allow, in order and never splitting one: each group's
 * messages fit one sendBatch (`batchMessages`, `batchBytes`). A hand-off is one relay batch, so
 * it always fits alone. Returns the groups as indexes into `handOffs`.
 */
export function packHandOffs(handOffs: readonly (readonly number[])[], policy: RelayPolicy = RELAY_POLICY): number[][] {
  const groups: number[][] = [];
  let group: number[] = [];
  let count = 0;
  let bytes = 0;
  handOffs.forEach((sizes, i) => {
    const size = sizes.reduce((sum, s) => sum + s, 0);
    if (group.length > 0 && (count + sizes.length > policy.batchMessages || bytes + size > policy.batchBytes)) {
      groups.push(group);
      group = [];
      count = 0;
      bytes = 0;
    }
    group.push(i);
    count += sizes.length;
    bytes += size;
  });
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * What to do when the queue refused a batch of `length` messages. A size refusal can never pass
 * by sending the same thing again: shrink the next batch, or park a lone fact (a lone parked
 * notice refused for size is a failure like any other). Anything else retries with backoff.
 */
export function onSendRefused(
  length: number,
  sizeRejection: boolean,
  loneIsNotice: boolean,
): { readonly kind: "retry" } | { readonly kind: "halve"; readonly batchCap: number } | { readonly kind: "park" } {
  if (!sizeRejection || (length === 1 && loneIsNotice)) return { kind: "retry" };
  return length === 1 ? { kind: "park" } : { kind: "halve", batchCap: Math.max(1, Math.floor(length / 2)) };
}

/** When the alarm must fire after a run, from the outcome of that run. */
export function alarmAfterRun(
  outcome: { readonly failed: boolean; readonly pending: number; readonly sendFailures: number },
  c: RelayCursors,
  now: number,
  policy: RelayPolicy = RELAY_POLICY,
): number | null {
  if (outcome.failed) return now + backoffDelay(outcome.sendFailures, policy.sendRetry);
  if (outcome.pending > 0) return now;
  return c.redeliverAt;
}

/** Whether a commit starts a send at once: not while one runs, nor while sends fail (the alarm retries them). */
export function sendOnCommit(memory: RelayMemory, flushing: boolean): boolean {
  return !flushing && memory.sendFailures === 0;
}

/** Seconds a client shed for backlog should wait: longer while sends fail. */
export function retryAfterSeconds(memory: RelayMemory, policy: RelayPolicy = RELAY_POLICY): number {
  return memory.sendFailures === 0
    ? 1
    : Math.ceil(Math.min(policy.sendRetry.maxMs, policy.sendRetry.baseMs * 2 ** memory.sendFailures) / 1000);
}
