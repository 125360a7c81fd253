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
import { backoffDelay, type BackoffPolicy } from "../../src/core/resilience/backoff.js";
import {
  factMessage,
  isQueueSizeRejection,
  parkedFactNotice,
  QUEUE_LIMITS,
  queueMessageBytes,
  type FactMessage,
  type FactsQueueMessage,
} from "../../src/core/protocol/cloud-event.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { faultPoint, transformPoint, type FaultContext } from "../../src/core/resilience/fault-injection.js";
import type { RecordedEvent } from "../../src/core/model/envelope.js";
import type { EventLog } from "./event-log.js";

// Queue limits: 100 messages and 256,000 bytes per sendBatch (counted as the queue counts them,
// see queueMessageBytes); leave headroom for framing.
const MAX_BATCH_MESSAGES: number = QUEUE_LIMITS.batchMessages;
const MAX_BATCH_BYTES = QUEUE_LIMITS.batchBytes - 16_000;
// One run sends at most this many batches, then leaves the rest to the alarm.
const MAX_BATCHES_PER_RUN = 20;

// Between two sends of one run the relay waits this long unless a full batch is pending: a
// send costs about the same for one fact as for a hundred, so a busy entity sends fewer, fuller
// batches, while the first fact after a quiet spell still leaves at once.
const SEND_SPACING_MS = 50;

// Facts a send can take from memory instead of reading them back from the log.
const MAX_UNSENT_IN_MEMORY = 2 * MAX_BATCH_MESSAGES;

// If the object is evicted before a send it started has completed, its alarm sends the facts
// after this long.
const SAFETY_NET_MS = 5_000;

const SEND_RETRY: BackoffPolicy = { baseMs: 250, maxMs: 30_000 };
const ACK_TIMEOUT_MS = 30_000;
const MAX_ACK_TIMEOUT_MS = 10 * 60_000;

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

interface Cursors {
  sentUpTo: number;
  ackedUpTo: number;
  redeliverAt: number | null;
  redeliveries: number;
}

export class OutboxRelay {
  readonly #ctx: DurableObjectState;
  readonly #queue: Queue<FactsQueueMessage>;
  readonly #sql: SqlStorage;
  readonly #cursors: Cursors;
  #pending: number;
  #sendFailures = 0;
  /** Most messages the next batch may hold: halved by each size rejection, reset by a success. */
  #batchCap = MAX_BATCH_MESSAGES;
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
  committed(
    events: readonly RecordedEvent[],
    messages: readonly FactMessage[],
    log: EventLog,
    context: FaultContext,
  ): Promise<RelayOutcome> | undefined {
    if (events.length === 0) return undefined;
    // Kept only while sends keep up: during a queue outage the log is the buffer, not memory.
    if (this.#unsent.size < MAX_UNSENT_IN_MEMORY) {
      for (const [i, event] of events.entries()) this.#unsent.set(event.seq, { event, message: messages[i] ?? factMessage(event) });
    }
    this.#pending += events.length;
    this.#arm(Date.now() + SAFETY_NET_MS);
    if (this.#flushing || this.#sendFailures > 0) return undefined;
    return this.#startFlush(log, context);
  }

  /** The alarm fired: whatever was set has fired, and is set anew when the send ends. */
  alarmFired(log: EventLog, context: FaultContext): Promise<RelayOutcome> {
    this.#armedAt = null;
    return this.#startFlush(log, context);
  }

  /** The consumer has applied everything up to `seq`. */
  acknowledge(seq: number): void {
    const c = this.#cursors;
    if (seq <= c.ackedUpTo) return;
    // Not clamped to what this object has recorded as sent: the consumer may apply a batch (or
    // read facts back to repair a gap) before the send that carried them is recorded here, and
    // forgetting that acknowledgement would re-send the facts once the deadline passed. The
    // caller bounds `seq` by the log's head.
    c.ackedUpTo = seq;
    if (c.ackedUpTo >= c.sentUpTo) c.redeliverAt = null;
    else c.redeliverAt = Date.now() + ACK_TIMEOUT_MS;
    c.redeliveries = 0;
    this.#saveCursors();
    // Nothing left to send: the alarm is needed only for the re-send deadline, if any.
    if (!this.#flushing && this.#pending === 0) this.#rearm(c.redeliverAt);
  }

  /** Sends what is pending, and re-sends what was never acknowledged once its timeout passed. */
  #startFlush(log: EventLog, context: FaultContext): Promise<RelayOutcome> {
    this.#flushing ??= this.#flush(log, context).finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(log: EventLog, context: FaultContext): Promise<RelayOutcome> {
    const c = this.#cursors;
    let redelivered = 0;
    if (c.redeliverAt !== null && c.redeliverAt <= Date.now() && c.ackedUpTo < c.sentUpTo) {
      // A probe, not a flood: only the newest unacknowledged fact goes again. If it arrives, the
      // consumer repairs everything before it from the log (its gap repair); if the consumer is
      // merely behind, one message per entity is all this adds. Re-sending the whole range here
      // would add load exactly when the consumer is slowest.
      this.#sql.exec("INSERT OR IGNORE INTO outbox (seq) VALUES (?)", c.sentUpTo);
      redelivered = 1;
      c.redeliveries++;
      c.redeliverAt = null;
      this.#saveCursors();
      this.#pending = this.#count();
    }
    let sent = 0;
    try {
      for (let i = 0; i < MAX_BATCHES_PER_RUN && this.#pending > 0; i++) {
        if (i > 0 && this.#pending < MAX_BATCH_MESSAGES) await scheduler.wait(SEND_SPACING_MS);
        const batch = this.#nextBatch(log, context);
        const last = batch[batch.length - 1];
        if (!last) break;
        try {
          faultPoint("relay.send", context);
          const outgoing = transformPoint("relay.batch", batch.map((m) => m.body), context);
          if (outgoing.length > 0) await this.#queue.sendBatch(outgoing.map((body) => ({ body, contentType: "json" as const })));
        } catch (error) {
          // Sending the same thing again can never pass a size limit: shrink the batch, and park a
          // fact that is refused on its own. Anything else is a failure to retry with backoff.
          const lone = batch.length === 1 ? batch[0] : undefined;
          if (!isQueueSizeRejection(error) || (lone && "kind" in lone.body)) throw error;
          this.#sizeRejected(batch, error, context);
          continue;
        }
        faultPoint("relay.afterSend", context);
        this.#sql.exec("DELETE FROM outbox WHERE seq <= ?", last.seq);
        for (const seq of this.#unsent.keys()) if (seq <= last.seq) this.#unsent.delete(seq);
        this.#pending = this.#count();
        this.#batchCap = MAX_BATCH_MESSAGES;
        c.sentUpTo = Math.max(c.sentUpTo, last.seq);
        // Facts already acknowledged (they reached the consumer another way) need no deadline.
        if (c.ackedUpTo < c.sentUpTo) c.redeliverAt ??= Date.now() + Math.min(MAX_ACK_TIMEOUT_MS, ACK_TIMEOUT_MS * 2 ** c.redeliveries);
        this.#saveCursors();
        sent += batch.length;
      }
      this.#sendFailures = 0;
      // Once everything is sent, the alarm set before the send stays as it is: the acknowledgement
      // usually comes first and clears it, else it re-arms for the re-send deadline.
      this.#arm(this.#pending > 0 ? Date.now() : (c.redeliverAt ?? Number.POSITIVE_INFINITY));
      return { sent, redelivered };
    } catch (error) {
      this.#sendFailures++;
      this.#arm(Date.now() + backoffDelay(this.#sendFailures, SEND_RETRY));
      return { sent, redelivered, error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** The queue refused `batch` for its size: halve the next batch, or park its only fact. */
  #sizeRejected(batch: readonly OutgoingMessage[], error: unknown, context: FaultContext): void {
    const only = batch.length === 1 ? batch[0] : undefined;
    const detail = error instanceof Error ? error.message : String(error);
    if (only) {
      this.#park(only.seq, only.bytes, `the queue refused it: ${detail}`);
      logEvent("error", "fact parked: refused by the queue for its size", { ...context, seq: only.seq, bytes: only.bytes, error: detail });
    } else {
      this.#batchCap = Math.max(1, Math.floor(batch.length / 2));
    }
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
    return this.#sendFailures === 0 ? 1 : Math.ceil(Math.min(SEND_RETRY.maxMs, SEND_RETRY.baseMs * 2 ** this.#sendFailures) / 1000);
  }

  /**
   * The next batch: pending facts in log order, within the queue's limits as the queue counts them
   * (UTF-8 bytes plus per-message metadata) and within `#batchCap`. A fact over the message limit
   * is parked here and its notice takes its place.
   */
  #nextBatch(log: EventLog, context: FaultContext): OutgoingMessage[] {
    const { first, last } = this.#sql.exec<{ first: number | null; last: number | null }>("SELECT min(seq) AS first, max(seq) AS last FROM outbox").one();
    if (first === null || last === null) return [];
    const upTo = Math.min(last, first + this.#batchCap - 1);
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
    const batch: OutgoingMessage[] = [];
    let bytes = 0;
    // Pending rows are always one contiguous range of the log: sends and probes both go in order.
    for (const { event, message } of this.#pendingFacts(log, first, upTo)) {
      let body: FactsQueueMessage = message.body;
      let size = message.bytes;
      const known = parked.get(event.seq);
      if (known || size > QUEUE_LIMITS.messageBytes) {
        const reason = known?.reason ?? `${size} bytes as a queue message; the queue takes at most ${QUEUE_LIMITS.messageBytes}`;
        if (!known) {
          this.#park(event.seq, size, reason);
          logEvent("error", "fact parked: too large for the queue", { ...context, seq: event.seq, bytes: size });
        }
        body = parkedFactNotice(event, known?.bytes ?? size, reason, known?.parked_at ?? Date.now());
        size = queueMessageBytes(body);
      }
      if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      batch.push({ seq: event.seq, body, bytes: size });
      bytes += size;
    }
    return batch;
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
