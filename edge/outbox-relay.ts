// The transactional outbox of one entity and its relay to the facts queue. Rows are written in
// the same transaction as the events; the relay (driven by the object's alarm) sends them in
// batches within the queue's limits and deletes them only after the send succeeded, so a crash
// in between re-sends (a duplicate, absorbed downstream) and never loses a fact.
import { backoffDelay, type BackoffPolicy } from "../src/core/backoff.js";
import { toCloudEvent, type FactCloudEvent } from "../src/core/cloud-event.js";
import type { EventLog } from "./event-log.js";

// Queue limits: 100 messages and 256 KB per sendBatch; leave headroom for framing.
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 240 * 1024;
// One alarm run sends at most this many batches, then re-arms so other work can interleave.
const MAX_BATCHES_PER_RUN = 20;

const RETRY: BackoffPolicy = { baseMs: 250, maxMs: 30_000 };

export interface RelayOutcome {
  readonly sent: number;
  readonly error?: string;
}

export class OutboxRelay {
  readonly #ctx: DurableObjectState;
  readonly #queue: Queue<FactCloudEvent>;
  readonly #sql: SqlStorage;
  #pending: number;
  #failures = 0;

  constructor(ctx: DurableObjectState, queue: Queue<FactCloudEvent>) {
    this.#ctx = ctx;
    this.#queue = queue;
    this.#sql = ctx.storage.sql;
    this.#pending = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  /** Facts recorded but not yet handed to the queue. */
  get pending(): number {
    return this.#pending;
  }

  /** Adds outbox rows; call inside the transaction that appends the events. */
  stage(seqs: readonly number[]): void {
    for (const seq of seqs) this.#sql.exec("INSERT INTO outbox (seq) VALUES (?)", seq);
  }

  /** Call after the staging transaction committed. */
  committed(count: number): void {
    this.#pending += count;
    if (count > 0) this.#arm(Date.now());
  }

  /** Sends what is pending; on failure re-arms with backoff instead of giving up. */
  async flush(log: EventLog): Promise<RelayOutcome> {
    let sent = 0;
    try {
      for (let i = 0; i < MAX_BATCHES_PER_RUN && this.#pending > 0; i++) {
        const batch = this.#nextBatch(log);
        if (batch.length === 0) break;
        await this.#queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
        const last = batch[batch.length - 1];
        if (last) this.#sql.exec("DELETE FROM outbox WHERE seq <= ?", last.seq);
        this.#pending = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
        sent += batch.length;
      }
      this.#failures = 0;
      if (this.#pending > 0) this.#arm(Date.now());
      return { sent };
    } catch (error) {
      this.#failures++;
      this.#arm(Date.now() + backoffDelay(this.#failures, RETRY));
      return { sent, error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Seconds a shed client should wait: roughly how long the relay needs to catch up. */
  retryAfterSeconds(): number {
    return this.#failures === 0 ? 1 : Math.ceil(Math.min(RETRY.maxMs, RETRY.baseMs * 2 ** this.#failures) / 1000);
  }

  #nextBatch(log: EventLog): FactCloudEvent[] {
    const first = this.#sql.exec<{ seq: number | null }>("SELECT min(seq) AS seq FROM outbox").one().seq;
    if (first === null) return [];
    const batch: FactCloudEvent[] = [];
    let bytes = 0;
    for (const event of log.read(first - 1, Number.MAX_SAFE_INTEGER, MAX_BATCH_MESSAGES)) {
      const fact = toCloudEvent(event);
      const size = JSON.stringify(fact).length;
      if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      batch.push(fact);
      bytes += size;
    }
    return batch;
  }

  #arm(at: number): void {
    // Writes without an await commit with the surrounding work; the output gate holds the reply.
    void this.#ctx.storage.getAlarm().then((current) => {
      if (current === null || current > at) return this.#ctx.storage.setAlarm(at);
    });
  }
}
