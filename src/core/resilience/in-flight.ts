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

/** How an `AdaptiveLimit` moves (see there). */
export interface AdaptiveLimitPolicy {
  /** The limit never falls below this, so a trickle of round trips keeps showing when the queue is gone. */
  readonly min: number;
  /** Nor rises above this. */
  readonly max: number;
  /** Queueing delay tolerated: the interval's shortest round trip over the no-load one, ms. */
  readonly targetQueueMs: number;
  /** The limit is judged once per interval, ms, on the shortest round trip it saw. */
  readonly intervalMs: number;
  /** Round trips an interval needs before it is judged (fewer say nothing about a queue). */
  readonly minSamples: number;
  /** The no-load round trip is the shortest seen over the last one to two windows of this, ms. */
  readonly baseWindowMs: number;
  /** With nothing in flight and no round trip for this long, ms, no queue is left: the limit resets to `max`. */
  readonly idleResetMs: number;
}

/**
 * The isolate's command limit: a standing queue of 25 ms is tolerated, judged ten times a second.
 * The floor of 8 keeps round trips flowing while shedding, so recovery is seen within an interval.
 */
export const COMMAND_LIMIT_POLICY: AdaptiveLimitPolicy = {
  min: 8,
  max: 512,
  targetQueueMs: 25,
  intervalMs: 100,
  minSamples: 8,
  baseWindowMs: 10_000,
  idleResetMs: 1_000,
};

/**
 * A ceiling on work in flight that follows queueing delay (additive-increase/multiplicative-
 * decrease, as TCP congestion control and Netflix's concurrency-limits adapt a window): each
 * request that passed it reports its round trip; once per interval, if even the interval's
 * shortest round trip exceeds the no-load one by more than the target (CoDel's test: a standing
 * queue, not a burst), the limit shrinks by 30 %; while the queue stays under half the target it
 * grows by 10 % (at least one). Requests over the limit are refused at the door, where a refusal
 * costs almost nothing, so at twice its capacity a host spends its time on the work it accepts
 * and accepted work waits about the target, not the whole backlog. Pure: the caller passes the
 * clock (ms).
 */
export class AdaptiveLimit {
  readonly #policy: AdaptiveLimitPolicy;
  #limit: number;
  #inFlight = 0;
  #intervalEndsAt: number | undefined;
  #intervalMin = Number.POSITIVE_INFINITY;
  #intervalSamples = 0;
  #base = Number.POSITIVE_INFINITY;
  #nextBase = Number.POSITIVE_INFINITY;
  #baseRotatesAt: number | undefined;
  #lastSampleAt: number | undefined;

  constructor(policy: AdaptiveLimitPolicy) {
    this.#policy = policy;
    this.#limit = policy.max;
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Counts a request in at `now` (ms) unless the limit is reached; true when it got in. An idle
   * host starts again at the maximum: a limit cut during a past overload says nothing of now.
   */
  tryEnter(now: number): boolean {
    const last = this.#lastSampleAt;
    if (this.#inFlight === 0 && last !== undefined && now - last >= this.#policy.idleResetMs)
      this.#limit = this.#policy.max;
    if (this.#inFlight >= this.limit) return false;
    this.#inFlight++;
    return true;
  }

  /**
   * Counts a request out (once per successful `tryEnter`), with its round trip in ms ending at
   * `now`, or undefined when it ended before its round trip (refused by validation, say).
   */
  leave(roundTripMs: number | undefined, now: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (roundTripMs !== undefined && Number.isFinite(roundTripMs) && roundTripMs >= 0) this.#sample(roundTripMs, now);
  }

  #sample(rtt: number, now: number): void {
    const p = this.#policy;
    this.#lastSampleAt = now;
    if (this.#baseRotatesAt === undefined || now >= this.#baseRotatesAt) {
      // The no-load round trip may drift (another placement, a slower network): forget old minima.
      this.#base = this.#nextBase;
      this.#nextBase = Number.POSITIVE_INFINITY;
      this.#baseRotatesAt = now + p.baseWindowMs;
    }
    this.#base = Math.min(this.#base, rtt);
    this.#nextBase = Math.min(this.#nextBase, rtt);
    this.#intervalEndsAt ??= now + p.intervalMs;
    this.#intervalMin = Math.min(this.#intervalMin, rtt);
    this.#intervalSamples++;
    if (now < this.#intervalEndsAt) return;
    if (this.#intervalSamples >= p.minSamples) {
      const queued = this.#intervalMin - this.#base;
      if (queued > p.targetQueueMs) this.#limit = Math.max(p.min, this.#limit * 0.7);
      else if (queued < p.targetQueueMs / 2)
        this.#limit = Math.min(p.max, this.#limit + Math.max(1, this.#limit * 0.1));
    }
    this.#intervalEndsAt = now + p.intervalMs;
    this.#intervalMin = Number.POSITIVE_INFINITY;
    this.#intervalSamples = 0;
  }
}
