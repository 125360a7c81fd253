// The transactional outbox of one entity and its relay to the facts queue. Rows are written in
// the same transaction as the events; the relay sends them in batches within the queue's limits
// and deletes them only after the send succeeded, so a crash in between re-sends (a duplicate,
// absorbed downstream) and never loses a fact.
//
// A commit starts a send at once unless one is in flight; facts committed meanwhile ride in the
// next batch, sent a moment later, so a busy entity sends large batches and an idle one sends
// without waiting. The object's alarm is the safety net: it is armed before every send, so facts
// staged by an object evicted before its send completed still leave, and it drives retries with
// backoff and re-sends of what is never acknowledged.
//
// The consumer acknowledges what it has applied. The distance between the log's head and that
// acknowledgement is the entity's backlog, which bounds how far the edge may run ahead of a slow
// or failing cloud tier; and when facts sent stay unacknowledged (lost or dead-lettered on the
// way), a probe — the newest of them, whose arrival makes the consumer repair the rest from the
// log — is sent after a timeout that doubles while nothing is acknowledged.
//
// Sizes are counted as the queue counts them (UTF-8 bytes plus its per-message metadata). A fact
// the queue cannot carry (over the message limit, or refused for size on its own) is parked, not
// retried for ever ahead of every later fact: a small notice takes its place on the queue and the
// consumer reads the fact itself from this entity.
//
// The rules (batch sizes, cursors, probes, size refusals, alarms) are src/core/outbox/relay.ts,
// shared with the simulator; this class performs their effects with SQL storage and the queue.
import {
  acknowledge,
  alarmAfterRun,
  batchAccepted,
  batchLength,
  onSendRefused,
  overMessageLimit,
  probeDue,
  RELAY_MEMORY_AT_WAKE,
  RELAY_POLICY,
  retryAfterSeconds,
  sendOnCommit,
  type RelayCursors,
  type RelayMemory,
} from "../../src/core/outbox/relay.js";
import {
  factMessage,
  isQueueSizeRejection,
  parkedFactNotice,
  queueMessageBytes,
  type FactMessage,
  type FactsQueueMessage,
} from "../../src/core/protocol/cloud-event.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { faultPoint, transformPoint, type FaultContext } from "../../src/core/resilience/fault-injection.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { EventLog } from "./event-log.js";

// Facts a send can take from memory instead of reading them back from the log.
const MAX_UNSENT_IN_MEMORY = 2 * RELAY_POLICY.batchMessages;

/** One message of a batch: the fact's position in the log, what goes on the queue, its size. */
interface OutgoingMessage {
  readonly seq: number;
  readonly body: FactsQueueMessage;
  readonly bytes: number;
}

/** A fact waiting to be sent, with its queue message (built once, see `FactMessage`). */
interface PendingFact {
  readonly event: RecordedEvent;
  readonly message: FactMessage;
}

export interface RelayOutcome {
  readonly sent: number;
  readonly redelivered: number;
  readonly error?: string;
}

export class OutboxRelay {
  readonly #ctx: DurableObjectState;
  readonly #queue: Queue<FactsQueueMessage>;
  readonly #sql: SqlStorage;
  /** Durable cursors (mirrored in `relay_state`) and in-memory state, as src/core/outbox/relay.ts defines them. */
  #cursors: RelayCursors;
  #memory: RelayMemory = RELAY_MEMORY_AT_WAKE;
  #pending: number;
  /** When the alarm is set for, as far as this instance knows (null: unknown or none). */
  #armedAt: number | null = null;
  /** The send in progress; there is never more than one. */
  #flushing: Promise<RelayOutcome> | undefined;
  /**
   * Facts committed by this instance and not yet sent, with their messages as the entity measured
   * them, so a send need neither read them back nor encode them again.
   */
  readonly #unsent = new Map<number, PendingFact>();

  constructor(ctx: DurableObjectState, queue: Queue<FactsQueueMessage>) {
    this.#ctx = ctx;
    this.#queue = queue;
    this.#sql = ctx.storage.sql;
    this.#pending = this.#count();
    const row = this.#sql
      .exec<{ sent_up_to: number; acked_up_to: number; redeliver_at: number | null; redeliveries: number }>(
        "SELECT sent_up_to, acked_up_to, redeliver_at, redeliveries FROM relay_state",
      )
      .one();
    this.#cursors = {
      sentUpTo: row.sent_up_to,
      ackedUpTo: row.acked_up_to,
      redeliverAt: row.redeliver_at,
      redeliveries: row.redeliveries,
    };
  }

  /** Facts recorded up to `head` that the consumer has not acknowledged yet. */
  backlog(head: number): number {
    return Math.max(0, head - this.#cursors.ackedUpTo);
  }

  /** Adds outbox rows; call inside the transaction that appends the events. */
  stage(seqs: readonly number[]): void {
    for (const seq of seqs) this.#sql.exec("INSERT INTO outbox (seq) VALUES (?)", seq);
  }

  /**
   * Call after the staging transaction committed. Starts a send unless one is in flight (it picks
   * these facts up) or sends are failing (the alarm retries them with backoff); the returned
   * outcome is that of the send these facts leave with, if one was started.
   */
  committed(facts: readonly PendingFact[], log: EventLog, context: FaultContext): Promise<RelayOutcome> | undefined {
    if (facts.length === 0) return undefined;
    // Kept only while sends keep up: during a queue outage the log is the buffer, not memory.
    if (this.#unsent.size < MAX_UNSENT_IN_MEMORY) {
      for (const fact of facts) this.#unsent.set(fact.event.seq, fact);
    }
    this.#pending += facts.length;
    this.#arm(Date.now() + RELAY_POLICY.safetyNetMs);
    if (!sendOnCommit(this.#memory, this.#flushing !== undefined)) return undefined;
    return this.#startFlush(log, context);
  }

  /** The alarm fired: whatever was set has fired, and is set anew when the send ends. */
  alarmFired(log: EventLog, context: FaultContext): Promise<RelayOutcome> {
    this.#armedAt = null;
    return this.#startFlush(log, context);
  }

  /** The consumer has applied everything up to `seq`. */
  acknowledge(seq: number): void {
    // The caller bounds `seq` by the log's head.
    const next = acknowledge(this.#cursors, seq, Date.now());
    if (!next) return;
    this.#cursors = next;
    this.#saveCursors();
    // Nothing left to send: the alarm is needed only for the re-send deadline, if any.
    if (!this.#flushing && this.#pending === 0) this.#rearm(next.redeliverAt);
  }

  /** Sends what is pending, and re-sends what was never acknowledged once its timeout passed. */
  #startFlush(log: EventLog, context: FaultContext): Promise<RelayOutcome> {
    this.#flushing ??= this.#flush(log, context).finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(log: EventLog, context: FaultContext): Promise<RelayOutcome> {
    let redelivered = 0;
    const probe = probeDue(this.#cursors, Date.now());
    if (probe) {
      this.#sql.exec("INSERT OR IGNORE INTO outbox (seq) VALUES (?)", probe.seq);
      redelivered = 1;
      this.#cursors = probe.cursors;
      this.#saveCursors();
      this.#pending = this.#count();
    }
    let sent = 0;
    try {
      for (let i = 0; i < RELAY_POLICY.batchesPerRun && this.#pending > 0; i++) {
        if (i > 0 && this.#pending < RELAY_POLICY.batchMessages) await scheduler.wait(RELAY_POLICY.sendSpacingMs);
        const batch = this.#nextBatch(log, context);
        const last = batch[batch.length - 1];
        if (!last) break;
        try {
          faultPoint("relay.send", context);
          const outgoing = transformPoint(
            "relay.batch",
            batch.map((m) => m.body),
            context,
          );
          if (outgoing.length > 0)
            await this.#queue.sendBatch(outgoing.map((body) => ({ body, contentType: "json" as const })));
        } catch (error) {
          const refused = onSendRefused(
            batch.length,
            isQueueSizeRejection(error),
            batch.length === 1 && batch[0] !== undefined && "kind" in batch[0].body,
          );
          if (refused.kind === "retry") throw error;
          if (refused.kind === "halve") this.#memory = { ...this.#memory, batchCap: refused.batchCap };
          else this.#parkRefused(last, error, context);
          continue;
        }
        faultPoint("relay.afterSend", context);
        this.#sql.exec("DELETE FROM outbox WHERE seq <= ?", last.seq);
        for (const seq of this.#unsent.keys()) if (seq <= last.seq) this.#unsent.delete(seq);
        this.#pending = this.#count();
        this.#memory = { ...this.#memory, batchCap: RELAY_POLICY.batchMessages };
        this.#cursors = batchAccepted(this.#cursors, last.seq, Date.now());
        this.#saveCursors();
        sent += batch.length;
      }
      this.#memory = { ...this.#memory, sendFailures: 0 };
      // Once everything is sent, the alarm set before the send stays as it is: the acknowledgement
      // usually comes first and clears it, else it re-arms for the re-send deadline.
      this.#arm(
        alarmAfterRun({ failed: false, pending: this.#pending, sendFailures: 0 }, this.#cursors, Date.now()) ??
          Number.POSITIVE_INFINITY,
      );
      return { sent, redelivered };
    } catch (error) {
      const sendFailures = this.#memory.sendFailures + 1;
      this.#memory = { ...this.#memory, sendFailures };
      this.#arm(
        alarmAfterRun({ failed: true, pending: this.#pending, sendFailures }, this.#cursors, Date.now()) ?? Date.now(),
      );
      return { sent, redelivered, error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** The queue refused a lone fact for its size: park it for an operator. */
  #parkRefused(only: OutgoingMessage, error: unknown, context: FaultContext): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.#park(only.seq, only.bytes, `the queue refused it: ${detail}`);
    logEvent("error", "fact parked: refused by the queue for its size", {
      ...context,
      seq: only.seq,
      bytes: only.bytes,
      error: detail,
    });
  }

  /**
   * Records that fact `seq` cannot travel the queue. From now on a small notice goes in its place
   * (in its position, so cursors and re-sends work as for any fact); the consumer reads the fact
   * itself from this entity over RPC, and an operator sees it in the admin API.
   */
  #park(seq: number, bytes: number, reason: string): void {
    this.#sql.exec(
      "INSERT OR IGNORE INTO parked_facts (seq, bytes, reason, parked_at) VALUES (?, ?, ?, ?)",
      seq,
      bytes,
      reason.slice(0, 500),
      Date.now(),
    );
  }

  /** Seconds a shed client should wait before trying again. */
  retryAfterSeconds(): number {
    return retryAfterSeconds(this.#memory);
  }

  /**
   * The next batch: pending facts in log order, within the queue's limits as the queue counts them
   * (UTF-8 bytes plus per-message metadata) and within `#batchCap`. A fact over the message limit
   * is parked here and its notice takes its place.
   */
  #nextBatch(log: EventLog, context: FaultContext): OutgoingMessage[] {
    const { first, last } = this.#sql
      .exec<{ first: number | null; last: number | null }>("SELECT min(seq) AS first, max(seq) AS last FROM outbox")
      .one();
    if (first === null || last === null) return [];
    const upTo = Math.min(last, first + this.#memory.batchCap - 1);
    const parked = new Map(
      this.#sql
        .exec<{ seq: number; bytes: number; reason: string; parked_at: number }>(
          "SELECT seq, bytes, reason, parked_at FROM parked_facts WHERE seq >= ? AND seq <= ?",
          first,
          upTo,
        )
        .toArray()
        .map((r) => [r.seq, r] as const),
    );
    const candidates: OutgoingMessage[] = [];
    // Pending rows are always one contiguous range of the log: sends and probes both go in order.
    for (const { event, message } of this.#pendingFacts(log, first, upTo)) {
      let body: FactsQueueMessage = message.body;
      let size = message.bytes;
      const known = parked.get(event.seq);
      if (known || overMessageLimit(size)) {
        const reason =
          known?.reason ?? `${size} bytes as a queue message; the queue takes at most ${RELAY_POLICY.messageBytes}`;
        if (!known) {
          this.#park(event.seq, size, reason);
          logEvent("error", "fact parked: too large for the queue", { ...context, seq: event.seq, bytes: size });
        }
        body = parkedFactNotice(event, known?.bytes ?? size, reason, known?.parked_at ?? Date.now());
        size = queueMessageBytes(body);
      }
      candidates.push({ seq: event.seq, body, bytes: size });
    }
    return candidates.slice(0, batchLength(candidates.map((m) => m.bytes)));
  }

  /** Facts first..last, from memory when this instance committed them all, else from the log. */
  #pendingFacts(log: EventLog, first: number, last: number): readonly PendingFact[] {
    const facts: PendingFact[] = [];
    for (let seq = first; seq <= last; seq++) {
      const fact = this.#unsent.get(seq);
      if (!fact) return Array.from(log.read(first - 1, last), (event) => ({ event, message: factMessage(event) }));
      facts.push(fact);
    }
    return facts;
  }

  #count(): number {
    return this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  #saveCursors(): void {
    const c = this.#cursors;
    this.#sql.exec(
      "UPDATE relay_state SET sent_up_to = ?, acked_up_to = ?, redeliver_at = ?, redeliveries = ?",
      c.sentUpTo,
      c.ackedUpTo,
      c.redeliverAt,
      c.redeliveries,
    );
  }

  /** Makes sure the alarm fires by `at`. */
  #arm(at: number): void {
    if (!Number.isFinite(at) || (this.#armedAt !== null && this.#armedAt <= at)) return;
    this.#armedAt = at;
    // No await needed: the output gate holds replies until the alarm write is durable.
    void this.#ctx.storage.setAlarm(at);
  }

  /** Sets the alarm to exactly `at`, or clears it (null) when it has nothing left to do. */
  #rearm(at: number | null): void {
    if (at === this.#armedAt) return;
    if (at === null) void this.#ctx.storage.deleteAlarm();
    else void this.#ctx.storage.setAlarm(at);
    this.#armedAt = at;
  }
}
