// Baseline (a): the substrate's limit. A Durable Object that does nothing but insert one row per
// request into its SQLite database and answer with the row's sequence number: no decision, no
// outbox, no idempotency, no snapshots. Bench-only; never bound in production.
import { DurableObject } from "cloudflare:workers";
import { countRowsWritten } from "./rows-written.js";

let wakes = 0;

/** How many bare objects this isolate has started. */
export function bareWakes(): number {
  return wakes;
}

/** The bench-only binding of the outbox-floor baseline (bench/wrangler.bench.toml). */
interface BareEnv {
  readonly SENT_ROWS: Queue<{ readonly seq: number; readonly body: string }>;
}

export class BareLog extends DurableObject<BareEnv> {
  constructor(ctx: DurableObjectState, env: BareEnv) {
    super(ctx, env);
    wakes++;
    countRowsWritten(ctx.storage.sql, "bare");
    // No AUTOINCREMENT: it rewrites sqlite_sequence on every insert, a second row written (and
    // billed) per row that the substrate at its best does not pay; rows are never deleted here, so
    // the rowid alone already numbers them in order.
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  }

  /** One row in an explicit transactionSync: measured here, that commits faster than a bare exec's implicit transaction (about 1.6× the throughput on one object), and the baseline is the substrate at its best. */
  async append(body: string): Promise<number> {
    return this.ctx.storage.transactionSync(
      () =>
        this.ctx.storage.sql.exec<{ seq: number }>("INSERT INTO log (body) VALUES (?) RETURNING seq", body).one().seq,
    );
  }

  /**
   * The outbox's floor on this substrate: `append`, then the row put on a queue after the commit,
   * in the background as Factline's relay sends (a consumer acknowledges it at once). No outbox
   * row, cursor or retry: only what any design that ships each fact through a queue must pay.
   */
  async appendAndSend(body: string): Promise<number> {
    const seq = await this.append(body);
    this.ctx.waitUntil(this.env.SENT_ROWS.send({ seq, body }, { contentType: "json" }));
    return seq;
  }

  /** The number of rows, read from storage (a cold object must touch its database). */
  async count(): Promise<number> {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM log").one().n;
  }

  /** Fills the log with `rows` rows shaped like entity events, for the cold-start comparison. */
  async seed(rows: number, body: string): Promise<number> {
    this.ctx.storage.transactionSync(() => {
      for (let i = 0; i < rows; i++) this.ctx.storage.sql.exec("INSERT INTO log (body) VALUES (?)", body);
    });
    return this.count();
  }

  /**
   * Rows after `after` until `maxBytes` of bodies (at least one row), concatenated, and the last
   * seq read: the baseline of a stream's catch-up read (the same bytes, no protocol).
   */
  async read(after: number, maxBytes: number): Promise<{ body: string; last: number }> {
    let body = "";
    let last = after;
    for (const row of this.ctx.storage.sql.exec<{ seq: number; body: string }>(
      "SELECT seq, body FROM log WHERE seq > ? ORDER BY seq",
      after,
    )) {
      if (body.length > 0 && body.length + row.body.length > maxBytes) break;
      body += row.body;
      last = row.seq;
    }
    return { body, last };
  }

  /** Throws away the in-memory instance so the next request starts it cold. */
  async abort(): Promise<void> {
    this.ctx.abort("bench: forced cold start");
  }
}
