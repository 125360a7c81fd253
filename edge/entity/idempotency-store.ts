// Idempotency records of one entity in its Durable Object's SQLite database (the `idempotency`
// table): the storage port of the rule in src/core/entity/idempotency.ts. Written in the same
// transaction as the events.
import type { CommandResult } from "../../src/core/model/envelope.js";
import type { IdempotencyRecords, StoredIdempotency } from "../../src/core/entity/idempotency.js";

export class SqlIdempotencyRecords implements IdempotencyRecords {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get(key: string): StoredIdempotency | undefined {
    const row = this.#sql
      .exec<{ fingerprint: string; result: string; created_at: number }>(
        "SELECT fingerprint, result, created_at FROM idempotency WHERE key = ?",
        key,
      )
      .toArray()[0];
    // `result` is written only by `put` below, from a CommandResult.
    return (
      row && {
        fingerprint: row.fingerprint,
        result: JSON.parse(row.result) as CommandResult,
        createdAt: row.created_at,
      }
    );
  }

  put(key: string, record: StoredIdempotency): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO idempotency (key, fingerprint, result, created_at) VALUES (?, ?, ?, ?)",
      key,
      record.fingerprint,
      JSON.stringify(record.result),
      record.createdAt,
    );
  }

  deleteCreatedBefore(before: number): void {
    this.#sql.exec("DELETE FROM idempotency WHERE created_at < ?", before);
  }
}
