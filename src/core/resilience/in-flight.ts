// Requests in flight per key (a tenant, an entity) in this isolate, with a cap: a request over
// the cap is refused before it does any expensive work, so shedding costs almost nothing and the
// work waiting behind a hot key stays bounded. Entries vanish when their count falls to zero, so
// memory is bounded by what is in flight.

export class InFlight {
  readonly #counts = new Map<string, number>();

  /** Counts a request of `key` in unless `limit` (≥ 1) are already in; true when it got in. */
  tryEnter(key: string, limit: number): boolean {
    const n = this.#counts.get(key) ?? 0;
    if (n >= Math.max(1, limit)) return false;
    this.#counts.set(key, n + 1);
    return true;
  }

  /** Counts a request of `key` out (call once per successful `tryEnter`). */
  leave(key: string): void {
    const n = (this.#counts.get(key) ?? 0) - 1;
    if (n > 0) this.#counts.set(key, n);
    else this.#counts.delete(key);
  }

  /** Requests of `key` in flight now. */
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
}

/** Seconds a shed client is told to wait (Retry-After): work in flight drains in well under it. */
export const SHED_RETRY_AFTER_S = 1;

/**
 * Whether a command that waited `waitedMs` in its entity's queue (from the Worker's `sentAt` to
 * the object starting it) should be shed rather than decided: past `maxDelayMs` the queue is
 * longer than the entity can serve within its latency target, and dropping the oldest waiting
 * work (CoDel's rule) is what keeps accepted commands' latency bounded. Clock skew between the
 * Worker and the object only moves the threshold by the skew.
 */
export function queueDelayExceeded(sentAt: number | undefined, now: number, maxDelayMs: number): boolean {
  return sentAt !== undefined && Number.isFinite(sentAt) && now - sentAt > maxDelayMs;
}
