// Idempotency records of one entity: the key, a fingerprint of the request it was first used
// with, and the stored result to replay. Written in the same transaction as the events.
import type { CommandResult } from "../../src/core/model/envelope.js";
import type { IdempotencyLookup } from "../../src/core/entity/command-step.js";

export type { IdempotencyLookup };

/** How long a key is remembered. Stated in the README. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

export class IdempotencyStore {
  readonly #sql: SqlStorage;
  #purgedAt = 0;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  lookup(key: string, fingerprint: string, now: number): IdempotencyLookup {
    const row = this.#sql
      .exec<{ fingerprint: string; result: string; created_at: number }>(
        "SELECT fingerprint, result, created_at FROM idempotency WHERE key = ?",
        key,
      )
      .toArray()[0];
    if (!row || row.created_at < now - IDEMPOTENCY_RETENTION_MS) return { kind: "new" };
    if (row.fingerprint !== fingerprint) return { kind: "mismatch" };
    return { kind: "replay", result: JSON.parse(row.result) as CommandResult };
  }

  record(key: string, fingerprint: string, result: CommandResult, now: number): void {
    this.#sql.exec(
      "INSERT OR REPLACE INTO idempotency (key, fingerprint, result, created_at) VALUES (?, ?, ?, ?)",
      key,
      fingerprint,
      JSON.stringify(result),
      now,
    );
  }

  /** Forgets expired keys; cheap to call often, it works at most once a minute. */
  purgeExpired(now: number): void {
    if (now - this.#purgedAt < 60_000) return;
    this.#purgedAt = now;
    this.#sql.exec("DELETE FROM idempotency WHERE created_at < ?", now - IDEMPOTENCY_RETENTION_MS);
  }
}
