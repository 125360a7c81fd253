// The transactional outbox of one entity and its relay to the facts queue, over the Durable
// Object's SQLite storage, the FACTS queue binding and the object's alarm. The outbox is the event
// log itself from the relay's `pending_from` cursor to its head, so a fact is staged by the very
// insert that records it; the relay sends in batches within the queue's limits and moves the
// cursor only after the send succeeded, so a crash in between re-sends (a duplicate, absorbed
// downstream) and never loses a fact. A cursor instead of an outbox row per fact saves every
// command a row inserted and a row deleted, and every send a range query: SQLite-backed Durable
// Objects bill by rows written (developers.cloudflare.com/durable-objects/platform/pricing). For
// the same reason the cursor a send moved is usually written by the acknowledgement that follows
// (relay.ts, saveAfterSend): a restart in between sends those facts again, as a crash would.
//
// A commit starts a send at once unless one is in flight; facts committed meanwhile ride in the
// next batch, sent a moment later, so a busy entity sends large batches and an idle one sends
// without waiting. A command from the tenant API hands that batch to the API's Worker instead,
// which sends the facts of many entities' commands together (fact-handoff.ts). The object's alarm
// is the safety net: it is armed before every send of the relay's own, so facts staged by an
// object evicted before its send completed still leave (a batch handed off whole is armed only for
// its acknowledgement deadline), and it drives retries with backoff and re-sends of what is never
// acknowledged.
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
// The rules are src/core/outbox/relay.ts and the effect sequence is src/core/outbox/relay-host.ts,
// both shared with the simulator; this file only gives that host its ports over the real bindings.
import {
  OutboxRelayHost,
  type ParkedFact,
  type RelayOutcome,
  type RelayStorage,
} from "../../src/core/outbox/relay-host.js";
import type { RelayCursors } from "../../src/core/outbox/relay.js";
import type { FactsQueueMessage } from "../../src/core/protocol/cloud-event.js";
import { logEvent } from "../../src/core/runtime/log.js";
import { faultPoint, transformPoint, type FaultContext } from "../../src/core/resilience/fault-injection.js";
import type { EventLog } from "./event-log.js";
import { alarmTime } from "../../src/core/runtime/alarm-time.js";

export type { RelayOutcome } from "../../src/core/outbox/relay-host.js";

/**
 * The relay of the entity at `context` (its address, for fault points and logs), over the object's
 * SQLite tables `relay_state` and `parked_facts`, its log (whose newest committed seq `head`
 * gives), the facts queue and its alarm. Build one per object incarnation, once the schema is
 * current. `sent` receives the outcome of every send started by a commit (the alarm's are the
 * caller's to await).
 */
export function outboxRelay(
  ctx: DurableObjectState,
  queue: Queue<FactsQueueMessage>,
  log: EventLog,
  head: () => number,
  context: FaultContext,
  sent: (outcome: RelayOutcome) => void,
): OutboxRelayHost {
  return new OutboxRelayHost({
    storage: new SqlRelayStorage(ctx.storage.sql),
    head,
    read: (after, upTo) => log.readStored(after, upTo),
    send: async (messages) => {
      faultPoint("relay.send", context);
      const outgoing = transformPoint("relay.batch", [...messages], context);
      if (outgoing.length > 0) await queue.sendBatch(outgoing.map((body) => ({ body, contentType: "json" as const })));
    },
    afterSend: () => faultPoint("relay.afterSend", context),
    sleep: (ms) => scheduler.wait(ms),
    now: () => Date.now(),
    // No await needed: the output gate holds replies until the alarm write is durable.
    setAlarm: (at) => void ctx.storage.setAlarm(alarmTime(at)),
    deleteAlarm: () => void ctx.storage.deleteAlarm(),
    background: (work) => ctx.waitUntil(work.then(sent)),
    parked: (fact, cause) =>
      cause.kind === "too-large"
        ? logEvent("error", "fact parked: too large for the queue", { ...context, seq: fact.seq, bytes: fact.bytes })
        : logEvent("error", "fact parked: refused by the queue for its size", {
            ...context,
            seq: fact.seq,
            bytes: fact.bytes,
            error: cause.error,
          }),
  });
}

const NONE_PARKED: ReadonlyMap<number, ParkedFact> = new Map();

/** The relay's rows in the object's SQLite (schema: storage-schema.ts). */
class SqlRelayStorage implements RelayStorage {
  readonly #sql: SqlStorage;
  /**
   * The newest parked seq (0: none), read on the first lookup: facts are parked only through
   * `park` below, and rarely, so a batch beyond it needs no query of `parked_facts` per send.
   */
  #newestParked: number | undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  readCursors(): RelayCursors {
    const row = this.#sql
      .exec<{
        pending_from: number;
        sent_up_to: number;
        acked_up_to: number;
        redeliver_at: number | null;
        redeliveries: number;
      }>("SELECT pending_from, sent_up_to, acked_up_to, redeliver_at, redeliveries FROM relay_state")
      .one();
    return {
      pendingFrom: row.pending_from,
      sentUpTo: row.sent_up_to,
      ackedUpTo: row.acked_up_to,
      redeliverAt: row.redeliver_at,
      redeliveries: row.redeliveries,
    };
  }

  saveCursors(c: RelayCursors): void {
    this.#sql.exec(
      "UPDATE relay_state SET pending_from = ?, sent_up_to = ?, acked_up_to = ?, redeliver_at = ?, redeliveries = ?",
      c.pendingFrom,
      c.sentUpTo,
      c.ackedUpTo,
      c.redeliverAt,
      c.redeliveries,
    );
  }

  parked(first: number, last: number): ReadonlyMap<number, ParkedFact> {
    this.#newestParked ??=
      this.#sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM parked_facts").one().seq ?? 0;
    if (first > this.#newestParked) return NONE_PARKED;
    return new Map(
      this.#sql
        .exec<{ seq: number; bytes: number; reason: string; parked_at: number }>(
          "SELECT seq, bytes, reason, parked_at FROM parked_facts WHERE seq >= ? AND seq <= ?",
          first,
          last,
        )
        .toArray()
        .map((r) => [r.seq, { seq: r.seq, bytes: r.bytes, reason: r.reason, parkedAt: r.parked_at }] as const),
    );
  }

  park(fact: ParkedFact): void {
    this.#newestParked = Math.max(this.#newestParked ?? 0, fact.seq);
    this.#sql.exec(
      "INSERT OR IGNORE INTO parked_facts (seq, bytes, reason, parked_at) VALUES (?, ?, ?, ?)",
      fact.seq,
      fact.bytes,
      fact.reason,
      fact.parkedAt,
    );
  }
}
