// A bounded, expiring map for per-isolate caches: at most `capacity` entries, each dropped once
// `ttlMs` old; the least recently used entry makes room for a new one. Memory stays bounded
// whatever keys a client sends, and staleness stays bounded by the TTL.

export class ExpiringCache<K, V> {
  readonly #capacity: number;
  readonly #ttlMs: number;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  readonly #entries = new Map<K, { readonly value: V; readonly expires: number }>();

  /** `capacity` entries at most (≥ 1), each kept `ttlMs` milliseconds from when it was set. */
  constructor(capacity: number, ttlMs: number) {
    this.#capacity = Math.max(1, capacity);
    this.#ttlMs = ttlMs;
  }

  /** The value set for `key` less than the TTL ago (at time `now`, ms), else undefined. */
  get(key: K, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= now) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Sets `key` (fresh for the TTL from `now`), evicting the least recently used beyond capacity. */
  set(key: K, value: V, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: now + this.#ttlMs });
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  /** Forgets `key` at once. */
  delete(key: K): void {
    this.#entries.delete(key);
  }

  /** Entries held, expired ones included until they are next looked up or evicted. */
  get size(): number {
    return this.#entries.size;
  }
}
