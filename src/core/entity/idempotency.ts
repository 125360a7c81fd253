// The Idempotency-Key rule of one entity: a key's record (the fingerprint of the request it was
// first used with, and the result to replay) counts for IDEMPOTENCY_RETENTION_MS, and expired
// records are purged at most once a minute. Storage is a port: the `idempotency` table in
// production (edge/entity/idempotency-store.ts), a map in the simulator (src/simulation/entity-host.ts).
import type { CommandResult } from "../model/envelope.js";
import type { IdempotencyLookup } from "./command-step.js";

/** How long a key is remembered (ms). Stated in the README. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** How often expired records are looked for (ms): a purge is one indexed DELETE. */
const PURGE_EVERY_MS = 60_000;

/** One key's stored record. `createdAt` is epoch ms. */
export interface StoredIdempotency {
  readonly fingerprint: string;
  readonly result: CommandResult;
  readonly createdAt: number;
}

/** Where an entity keeps its idempotency records; writes happen inside the command's transaction. */
export interface IdempotencyRecords {
  get(key: string): StoredIdempotency | undefined;
  put(key: string, record: StoredIdempotency): void;
  /** Removes every record created before `before` (epoch ms). */
  deleteCreatedBefore(before: number): void;
}

/** The rule over an entity's records; one instance per object incarnation (the purge time is memory). */
export class Idempotency {
  readonly #records: IdempotencyRecords;
  #purgedAt = 0;

  constructor(records: IdempotencyRecords) {
    this.#records = records;
  }

  /** What the records say of `key` sent with `fingerprint` at `now`: new (or expired), replay, or mismatch. */
  lookup(key: string, fingerprint: string, now: number): IdempotencyLookup {
    const seen = this.#records.get(key);
    if (!seen || seen.createdAt < now - IDEMPOTENCY_RETENTION_MS) return { kind: "new" };
    if (seen.fingerprint !== fingerprint) return { kind: "mismatch" };
    return { kind: "replay", result: seen.result };
  }

  /** Records the result of a command decided under `key`, and purges expired keys (at most once a minute). */
  record(key: string, fingerprint: string, result: CommandResult, now: number): void {
    this.#records.put(key, { fingerprint, result, createdAt: now });
    if (now - this.#purgedAt < PURGE_EVERY_MS) return;
    this.#purgedAt = now;
    this.#records.deleteCreatedBefore(now - IDEMPOTENCY_RETENTION_MS);
  }
}
