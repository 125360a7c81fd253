// The simulated entity object's idempotency and client-session records: the storage ports of
// src/core/entity/idempotency.ts and client-sessions.ts over maps (production: SQLite tables,
// edge/entity/idempotency-store.ts and client-session-store.ts). Durable: they survive an eviction.
import type { SessionRecords } from "../core/entity/client-sessions.js";
import type { IdempotencyRecords, StoredIdempotency } from "../core/entity/idempotency.js";
import type { SessionRecord } from "../core/protocol/client-session.js";

export class MapIdempotencyRecords implements IdempotencyRecords {
  readonly #records = new Map<string, StoredIdempotency>();

  get(key: string): StoredIdempotency | undefined {
    return this.#records.get(key);
  }

  put(key: string, record: StoredIdempotency): void {
    this.#records.set(key, record);
  }

  deleteCreatedBefore(before: number): void {
    for (const [key, r] of this.#records) if (r.createdAt < before) this.#records.delete(key);
  }
}

export class MapSessionRecords implements SessionRecords {
  readonly #records = new Map<string, SessionRecord>();

  get(session: string): SessionRecord | undefined {
    return this.#records.get(session);
  }

  put(session: string, record: SessionRecord): void {
    this.#records.set(session, record);
  }

  touch(session: string, now: number): void {
    const record = this.#records.get(session);
    if (record) this.#records.set(session, { ...record, touchedAt: now });
  }

  deleteTouchedBefore(before: number): void {
    for (const [session, r] of this.#records) if (r.touchedAt < before) this.#records.delete(session);
  }
}
