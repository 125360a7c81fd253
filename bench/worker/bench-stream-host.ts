// The production Durable Stream object with one bench-only ability, bound as `DurableStreamHost`
// only in bench/wrangler.bench.toml: seeding a long stream quickly (so a catch-up read of 100,000
// messages can be measured without 100,000 appends). Reads and appends are the inherited
// production code.
import { DurableStreamHost as ProductionStreamHost } from "../../edge/streams/durable-stream-host.js";

export class DurableStreamHost extends ProductionStreamHost {
  /** Appends `count` copies of `message` (one append each) to the existing stream; answers the new tail. */
  async benchSeed(count: number, message: string): Promise<number> {
    // A text/plain stream stores UTF-8 messages as TEXT, as an append would.
    const data = message;
    const sql = this.ctx.storage.sql;
    const tail = this.ctx.storage.transactionSync(() => {
      const from = sql
        .exec<{ tail: number }>(
          "SELECT MAX(tail, COALESCE((SELECT MAX(seq) FROM stream_messages), 0)) AS tail FROM stream_meta WHERE id = 1",
        )
        .one().tail;
      for (let i = 1; i <= count; i++)
        sql.exec("INSERT INTO stream_messages (seq, data) VALUES (?, ?)", from + i, data);
      return from + count;
    });
    this.reloadState();
    return tail;
  }
}
