// The outbox relay's whole effect sequence, one implementation for the Durable Object
// (edge/entity/outbox-relay.ts gives it ports over SQLite, the facts queue and the object's alarm)
// and the simulator (src/simulation/entity-host.ts gives it ports over its storage model and
// simulated queue): send on commit unless a send is in flight, batches within the queue's limits,
// the alarm armed before each send of its own, the cursors moved only after the queue accepted
// (and written then or with the acknowledgement, as saveAfterSend decides), backoff on failure,
// acknowledgements and the backlog, the probe with its doubling deadline, size refusals (halve
// the batch, park a lone fact) and facts too large for the queue parked with a notice sent in
// their place, the alarm's re-run, and the hand-off of a commit's batch to a caller that sends it
// (with the report of its failure). The rules themselves are src/core/outbox/relay.ts; this
// file owns the order in which their effects happen. Build one per object incarnation: the
// cursors are read back from storage, the memory (`RelayMemory`, facts not yet sent) starts empty.
// The outbox is the log from the `pendingFrom` cursor to its head (relay.ts), so the facts a
// command records are staged by the transaction that appends them, with no write of the relay's.
import type { CommandRelay, RecordedFacts } from "../entity/command-host.js";
import type { RecordedEvent } from "../model/envelope.js";
import type { HandOff } from "../protocol/entity-protocol.js";
import {
  factMessage,
  isQueueSizeRejection,
  parkedFactNotice,
  queueMessageBytes,
  type FactMessage,
  type FactsQueueMessage,
} from "../protocol/cloud-event.js";
import {
  acknowledge,
  alarmAfterRun,
  batchAccepted,
  batchLength,
  handOffFailed,
  onSendRefused,
  overMessageLimit,
  probeDue,
  RELAY_MEMORY_AT_WAKE,
  RELAY_POLICY,
  retryAfterSeconds,
  saveAfterSend,
  sendOnCommit,
  type RelayCursors,
  type RelayMemory,
  type RelayPolicy,
} from "./relay.js";

/** A fact the queue cannot carry (production: a `parked_facts` row). */
export interface ParkedFact {
  readonly seq: number;
  /** Its size as a queue message, in bytes as the queue counts them. */
  readonly bytes: number;
  /** Why it was parked (at most 500 characters). */
  readonly reason: string;
  /** Epoch ms at which it was parked. */
  readonly parkedAt: number;
}

/** The relay's durable storage: its cursors (the outbox among them) and its parked facts. */
export interface RelayStorage {
  /** The durable cursors as stored (production: the `relay_state` row). */
  readCursors(): RelayCursors;
  saveCursors(cursors: RelayCursors): void;
  /** Parked facts with `first ≤ seq ≤ last`, by seq. */
  parked(first: number, last: number): ReadonlyMap<number, ParkedFact>;
  /** Records a parked fact; one already recorded for that seq stays as it is. */
  park(fact: ParkedFact): void;
}

/** What the relay needs of its host. All times are epoch ms. */
export interface RelayPorts {
  readonly storage: RelayStorage;
  /** The newest seq of the entity's log as committed (0: empty): the outbox ends there. */
  head(): number;
  /**
   * Facts of the entity's log with `after < seq ≤ upTo`, oldest first, as stored (at the schema
   * version each was recorded with: the consumer lifts them, so an upcaster that fails holds back
   * no fact in the outbox but the one it fails for, which the consumer dead-letters).
   */
  read(after: number, upTo: number): Iterable<RecordedEvent>;
  /**
   * Puts one batch on the facts queue. Rejects when the queue refuses it: a refusal for size must
   * be recognisable by `isQueueSizeRejection` (the queue's own wording), anything else is retried.
   */
  send(messages: readonly FactsQueueMessage[]): Promise<void>;
  /**
   * Between the queue accepting a batch and the cursors moving past it: where a crash makes the
   * next send a duplicate (production: a fault point; the simulator: an effect boundary).
   */
  afterSend(): void | Promise<void>;
  /** Waits `ms` between two sends of one run (production: `scheduler.wait`). */
  sleep(ms: number): Promise<void>;
  now(): number;
  /** Sets the object's alarm to `at` (replacing any set), without waiting for it to be durable. */
  setAlarm(at: number): void;
  deleteAlarm(): void;
  /** Keeps work nobody awaits alive past the call that started it (production: `ctx.waitUntil`). */
  background(work: Promise<RelayOutcome>): void;
  /**
   * A fact was just parked, too large for the message limit as the relay counts it, or refused by
   * the queue for its size on its own (`error`: the queue's words). Production logs it for operators.
   */
  parked(
    fact: ParkedFact,
    cause: { readonly kind: "too-large" } | { readonly kind: "refused"; readonly error: string },
  ): void;
}

/** What one run of the relay did. */
export interface RelayOutcome {
  /** Messages the queue accepted. */
  readonly sent: number;
  /** Probes sent (0 or 1). */
  readonly redelivered: number;
  /** Why the run stopped early, when a send failed (the alarm retries with backoff). */
  readonly error?: string;
}

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

/**
 * One entity's outbox relay for one object incarnation. It is also the command sequence's
 * `CommandRelay` (told what a transaction committed; backlog and Retry-After).
 */
export class OutboxRelayHost implements CommandRelay {
  readonly #ports: RelayPorts;
  readonly #storage: RelayStorage;
  readonly #policy: RelayPolicy;
  /** Facts a send can take from memory instead of reading them back from the log. */
  readonly #maxUnsent: number;
  #cursors: RelayCursors;
  /** The cursors as last written: an accepted batch may leave `#cursors` ahead (saveAfterSend). */
  #saved: RelayCursors;
  #memory: RelayMemory;
  /** When the alarm is set for, as far as this instance knows (null: unknown or none). */
  #armedAt: number | null = null;
  /** The send in progress; there is never more than one. */
  #flushing: Promise<RelayOutcome> | undefined;
  /**
   * Facts committed by this instance and not yet sent, with their messages as the entity measured
   * them, so a send need neither read them back nor encode them again.
   */
  readonly #unsent = new Map<number, PendingFact>();

  /** `policy`: the queue's limits and the timers (production: `RELAY_POLICY`). */
  constructor(ports: RelayPorts, policy: RelayPolicy = RELAY_POLICY) {
    this.#ports = ports;
    this.#storage = ports.storage;
    this.#policy = policy;
    this.#maxUnsent = 2 * policy.batchMessages;
    this.#memory = { ...RELAY_MEMORY_AT_WAKE, batchCap: policy.batchMessages };
    this.#cursors = ports.storage.readCursors();
    this.#saved = this.#cursors;
  }

  /** The durable cursors as this instance holds them (ahead of storage until written). */
  get cursors(): RelayCursors {
    return this.#cursors;
  }

  /** Facts recorded up to `head` that the consumer has not acknowledged yet. */
  backlog(head: number): number {
    return Math.max(0, head - this.#cursors.ackedUpTo);
  }

  /** Seconds a client shed for backlog should wait before trying again. */
  retryAfterSeconds(): number {
    return retryAfterSeconds(this.#memory, this.#policy);
  }

  /**
   * Call after the staging transaction committed. Arms the safety net, then starts a send unless
   * one is in flight (it picks these facts up) or sends are failing (the alarm retries them with
   * backoff); a send started runs in the background.
   */
  committed(facts: RecordedFacts): void {
    if (facts.length === 0) return;
    this.#armSafetyNet();
    if (this.#stage(facts)) this.#ports.background(this.#startFlush());
  }

  /**
   * Call after the staging transaction committed, instead of `committed`, when the command's
   * caller sends the facts itself (`CommandEnvelope.callerRelays`): when a commit would start a
   * send, takes the next batch of the outbox (these facts and any pending before them) out of it
   * as if the queue had accepted it, and returns it for the caller to send. A batch cut short by
   * the queue's limits leaves the rest to a send of the relay's own. A caller that fails reports it
   * (`handOffFailed`); one that vanishes leaves its facts sent and unacknowledged, which the probe
   * at their acknowledgement deadline repairs, as for a batch the queue accepted and lost.
   * Undefined when nothing was handed off (the relay sends, as usual).
   *
   * The alarm: whatever stays in the outbox gets the safety net, as a commit's send does. A batch
   * handed off whole needs only its acknowledgement deadline (the probe's): the safety net would
   * find nothing to send, since the facts already count as sent, so arming it would cost every
   * command on a quiet entity an alarm write and, with no acknowledgement within its 5 s, an alarm
   * run. An incarnation restarted before its cursors were written finds the facts back in its
   * outbox when that alarm fires and sends them again: duplicates, never a loss.
   */
  handOff(facts: RecordedFacts): HandOff | undefined {
    if (facts.length === 0) return undefined;
    const batch = this.#stage(facts) ? this.#nextBatch() : [];
    const first = batch[0];
    const last = batch[batch.length - 1];
    if (!first || !last) {
      this.#armSafetyNet();
      return undefined;
    }
    this.#accepted(last.seq);
    if (this.#pending() > 0) {
      this.#armSafetyNet();
      this.#ports.background(this.#startFlush());
    } else {
      // What a run of the relay's own that sent everything would leave: the acknowledgement deadline.
      const after = alarmAfterRun(
        { failed: false, pending: 0, sendFailures: 0 },
        this.#cursors,
        this.#ports.now(),
        this.#policy,
      );
      this.#arm(after ?? Number.POSITIVE_INFINITY);
    }
    return { fromSeq: first.seq, messages: batch.map(({ body, bytes }) => ({ body, bytes })) };
  }

  /**
   * The caller of `handOff` could not send the batch starting at `fromSeq`: those facts go back
   * into the outbox (relay.ts, `handOffFailed`), and the relay sends them itself after the backoff
   * of a failed send of its own. Waits for a send in flight first, whose acceptance would
   * otherwise move the outbox past them again.
   */
  async handOffFailed(fromSeq: number): Promise<void> {
    if (this.#flushing) await this.#flushing;
    const next = handOffFailed(this.#cursors, fromSeq);
    if (!next) return;
    this.#save(next);
    this.#sendFailed();
  }

  /**
   * Remembers committed facts for the next send; whether a send may start now (none in flight,
   * sends not failing).
   */
  #stage(facts: RecordedFacts): boolean {
    // Kept only while sends keep up: during a queue outage the log is the buffer, not memory.
    if (this.#unsent.size < this.#maxUnsent) for (const fact of facts) this.#unsent.set(fact.event.seq, fact);
    return sendOnCommit(this.#memory, this.#flushing !== undefined);
  }

  /** Makes sure the alarm fires within the safety net's delay, so an object evicted mid-send still sends. */
  #armSafetyNet(): void {
    this.#arm(this.#ports.now() + this.#policy.safetyNetMs);
  }

  /** The alarm fired: whatever was set has fired, and is set anew when the send ends. */
  async alarmFired(): Promise<RelayOutcome> {
    this.#armedAt = null;
    const outcome = await this.#startFlush();
    // A commit's alarm fires when no acknowledgement came first (a slow or paused consumer): write
    // the cursors its sends left for one, so that only a restart within the safety net's delay,
    // not a later eviction, sends those facts again.
    if (this.#cursors !== this.#saved) this.#save(this.#cursors);
    return outcome;
  }

  /** The consumer has applied everything up to `seq` (the caller bounds it by the log's head). */
  acknowledge(seq: number): void {
    const next = acknowledge(this.#cursors, seq, this.#ports.now(), this.#policy);
    if (!next) return;
    this.#save(next);
    // Nothing left to send: the alarm is needed only for the re-send deadline, if any.
    if (!this.#flushing && this.#pending() === 0) this.#rearm(next.redeliverAt);
  }

  #startFlush(): Promise<RelayOutcome> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Sends what is pending, and probes with the newest unacknowledged fact once its deadline passed. */
  async #flush(): Promise<RelayOutcome> {
    const ports = this.#ports;
    const policy = this.#policy;
    let redelivered = 0;
    const probe = probeDue(this.#cursors, ports.now());
    if (probe) {
      redelivered = 1;
      this.#save(probe.cursors);
    }
    // A run the alarm started has no alarm behind it: arm the safety net, as a commit does. A run
    // cut short (the object evicted or restarted mid-run) leaves its facts pending, and an
    // alarm handler cut short is retried only a few times (at least once, a bounded number of
    // retries), so without an alarm of its own nothing would send them until the next command.
    const safetyNet = this.#pending() > 0 && this.#armedAt === null;
    if (safetyNet) this.#armSafetyNet();
    let sent = 0;
    try {
      for (let i = 0; i < policy.batchesPerRun && this.#pending() > 0; i++) {
        if (i > 0 && this.#pending() < policy.batchMessages) await ports.sleep(policy.sendSpacingMs);
        const batch = this.#nextBatch();
        const last = batch[batch.length - 1];
        if (!last) break;
        try {
          await ports.send(batch.map((m) => m.body));
        } catch (error) {
          const refused = onSendRefused(
            batch.length,
            isQueueSizeRejection(error),
            batch.length === 1 && batch[0] !== undefined && "kind" in batch[0].body,
          );
          if (refused.kind === "retry") throw error;
          if (refused.kind === "halve") this.#memory = { ...this.#memory, batchCap: refused.batchCap };
          else this.#parkRefused(last, error);
          continue;
        }
        const crash = ports.afterSend();
        if (crash) await crash;
        this.#accepted(last.seq);
        sent += batch.length;
      }
      this.#memory = { ...this.#memory, sendFailures: 0 };
      const pending = this.#pending();
      const after = alarmAfterRun({ failed: false, pending, sendFailures: 0 }, this.#cursors, ports.now(), policy);
      // The run's own safety net has served once all is sent: the alarm is what comes next. A
      // commit's stays as it is: the acknowledgement usually comes first and clears it, else it
      // re-arms for the re-send deadline.
      if (safetyNet && pending === 0) this.#rearm(after);
      else this.#arm(after ?? Number.POSITIVE_INFINITY);
      return { sent, redelivered };
    } catch (error) {
      this.#sendFailed();
      return { sent, redelivered, error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** A send failed (the relay's own, or a caller's it handed facts to): count it and arm the retry's backoff. */
  #sendFailed(): void {
    const sendFailures = this.#memory.sendFailures + 1;
    this.#memory = { ...this.#memory, sendFailures };
    const now = this.#ports.now();
    const failed = { failed: true, pending: this.#pending(), sendFailures };
    this.#arm(alarmAfterRun(failed, this.#cursors, now, this.#policy) ?? now);
  }

  /** The queue accepted (or a caller took) the outbox up to `lastSeq`: it leaves the outbox. */
  #accepted(lastSeq: number): void {
    for (const seq of this.#unsent.keys()) if (seq <= lastSeq) this.#unsent.delete(seq);
    this.#memory = { ...this.#memory, batchCap: this.#policy.batchMessages };
    // One cursor takes the batch out of the outbox, written now or with the acknowledgement.
    const accepted = batchAccepted(this.#cursors, lastSeq, this.#ports.now(), this.#policy);
    if (saveAfterSend(this.#saved, accepted, this.#policy)) this.#save(accepted);
    else this.#cursors = accepted;
  }

  /** The queue refused a lone fact for its size: park it; its notice goes in its place from now on. */
  #parkRefused(only: OutgoingMessage, error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    const fact = this.#park(only.seq, only.bytes, `the queue refused it: ${detail}`);
    this.#ports.parked(fact, { kind: "refused", error: detail });
  }

  /**
   * Records that fact `seq` cannot travel the queue. From now on a small notice goes in its place
   * (in its position, so cursors and re-sends work as for any fact); the consumer reads the fact
   * itself from the entity, and an operator sees it in the admin API.
   */
  #park(seq: number, bytes: number, reason: string): ParkedFact {
    const fact: ParkedFact = { seq, bytes, reason: reason.slice(0, 500), parkedAt: this.#ports.now() };
    this.#storage.park(fact);
    return fact;
  }

  /**
   * The next batch: pending facts in log order, within the queue's limits as the queue counts them
   * (UTF-8 bytes plus per-message metadata) and within the batch cap. A fact over the message
   * limit is parked here and its notice takes its place.
   */
  #nextBatch(): OutgoingMessage[] {
    const first = this.#cursors.pendingFrom;
    const last = this.#ports.head();
    if (first > last) return [];
    const upTo = Math.min(last, first + this.#memory.batchCap - 1);
    const parked = this.#storage.parked(first, upTo);
    const candidates: OutgoingMessage[] = [];
    for (const { event, message } of this.#pendingFacts(first, upTo)) {
      let body: FactsQueueMessage = message.body;
      let size = message.bytes;
      const known = parked.get(event.seq);
      if (known || overMessageLimit(size, this.#policy)) {
        const fact =
          known ??
          this.#park(
            event.seq,
            size,
            `${size} bytes as a queue message; the queue takes at most ${this.#policy.messageBytes}`,
          );
        if (!known) this.#ports.parked(fact, { kind: "too-large" });
        body = parkedFactNotice(event, fact.bytes, fact.reason, fact.parkedAt);
        size = queueMessageBytes(body);
      }
      candidates.push({ seq: event.seq, body, bytes: size });
    }
    return candidates.slice(
      0,
      batchLength(
        candidates.map((m) => m.bytes),
        this.#policy,
      ),
    );
  }

  /** Facts first..last, from memory when this instance committed them all, else from the log. */
  #pendingFacts(first: number, last: number): readonly PendingFact[] {
    const facts: PendingFact[] = [];
    for (let seq = first; seq <= last; seq++) {
      const fact = this.#unsent.get(seq);
      if (!fact)
        return Array.from(this.#ports.read(first - 1, last), (event) => ({ event, message: factMessage(event) }));
      facts.push(fact);
    }
    return facts;
  }

  #save(cursors: RelayCursors): void {
    this.#cursors = cursors;
    this.#saved = cursors;
    this.#storage.saveCursors(cursors);
  }

  /** How many facts the outbox holds: the log from `pendingFrom` to its head. */
  #pending(): number {
    return Math.max(0, this.#ports.head() - this.#cursors.pendingFrom + 1);
  }

  /** Makes sure the alarm fires by `at`. */
  #arm(at: number): void {
    if (!Number.isFinite(at) || (this.#armedAt !== null && this.#armedAt <= at)) return;
    this.#armedAt = at;
    this.#ports.setAlarm(at);
  }

  /** Sets the alarm to exactly `at`, or clears it (null) when it has nothing left to do. */
  #rearm(at: number | null): void {
    if (at === this.#armedAt) return;
    if (at === null) this.#ports.deleteAlarm();
    else this.#ports.setAlarm(at);
    this.#armedAt = at;
  }
}
