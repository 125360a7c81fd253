// A token bucket as plain data: `burst` tokens at most, refilled at `rate` per second. Taking a
// token either succeeds or says how many seconds until one is there (for Retry-After).
//
// A tenant's bucket lives in its gate object; isolates do not ask it per request but lease a few
// tokens at a time (`leaseSize`) and spend them locally until they run out or expire
// (`LEASE_TTL_MS`). Every admitted request still spends a token of the one bucket, so leases never
// admit more than the limit; tokens an isolate leased and did not spend lapse unused, so a busy
// tenant spread over many isolates may see up to one lease per isolate per TTL less than its
// limit (erring towards refusing, never towards admitting). The one slack is in time: a token is
// spent up to LEASE_TTL_MS after the gate granted it, so over any window of W ms a tenant is
// admitted at most burst + requestsPerSecond · (W + LEASE_TTL_MS) / 1000 requests (the simulator
// checks this bound, src/simulation/admission.ts) — as long as its gate keeps its bucket: a gate
// evicted from memory starts a full one.

export interface Bucket {
  readonly tokens: number;
  readonly updatedAt: number;
}

export type Take =
  | { readonly ok: true; readonly bucket: Bucket }
  | { readonly ok: false; readonly bucket: Bucket; readonly retryAfter: number };

/** A tenant's configured limit: `requestsPerSecond` refill, `burst` tokens at most. */
export interface Limit {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

export function fullBucket(burst: number, now: number): Bucket {
  return { tokens: burst, updatedAt: now };
}

export function takeToken(bucket: Bucket, limit: Limit, now: number): Take {
  const taken = takeTokens(bucket, limit, 1, now);
  return taken.granted === 1
    ? { ok: true, bucket: taken.bucket }
    : { ok: false, bucket: taken.bucket, retryAfter: taken.retryAfter };
}

/** Tokens granted by the gate to one isolate: spend them before `expiresAt` (ms) or lose them. */
export interface Granted {
  readonly granted: number;
  readonly bucket: Bucket;
  /** Seconds until one token is there again (≥ 1), meaningful when `granted` is 0. */
  readonly retryAfter: number;
}

/** Takes up to `want` whole tokens at `now` (ms): as many as the bucket holds, possibly none. */
export function takeTokens(bucket: Bucket, limit: Limit, want: number, now: number): Granted {
  const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
  const tokens = Math.min(limit.burst, bucket.tokens + elapsed * limit.requestsPerSecond);
  const granted = Math.max(0, Math.min(Math.floor(want), Math.floor(tokens)));
  const left = tokens - granted;
  return {
    granted,
    bucket: { tokens: left, updatedAt: now },
    retryAfter: Math.max(1, Math.ceil((1 - left) / limit.requestsPerSecond)),
  };
}

/** How long (ms) an isolate may spend a lease before its tokens lapse. */
export const LEASE_TTL_MS = 1_000;

/**
 * Tokens an isolate asks for at once under `limit`: a tenth of a second's refill, at least 1 and
 * at most the burst — one gate call per request at low rates (where it costs nothing), one per
 * ~100 requests at 1,000 requests/s.
 */
export function leaseSize(limit: Limit): number {
  return Math.max(1, Math.min(limit.burst, Math.floor(limit.requestsPerSecond / 10)));
}

/** A stable key of a limit, so a bucket or lease for an old limit is not spent under a new one. */
export function limitKey(limit: Limit): string {
  return `${limit.requestsPerSecond}/${limit.burst}`;
}

// Buckets kept per tenant, one per limit isolates lease under (a limit change leaves two for a few seconds).
const MAX_BUCKETS = 4;

/**
 * One tenant's buckets as its gate holds them (edge/tenancy/tenant-gate.ts; the simulator's gate
 * model runs this too): one per limit, so isolates that still hold the old limit (within their
 * staleness bound) keep draining its bucket instead of resetting a shared one to full at every
 * switch; a new limit starts a full bucket of its own. At most four are kept, newest last.
 */
export class LimitBuckets {
  readonly #buckets = new Map<string, Bucket>();

  /** Grants up to `want` tokens under `limit` at `now` (ms); `retryAfter` (s) matters when none is granted. */
  lease(limit: Limit, want: number, now: number): { granted: number; retryAfter: number } {
    const key = limitKey(limit);
    const taken = takeTokens(this.#buckets.get(key) ?? fullBucket(limit.burst, now), limit, want, now);
    this.#buckets.delete(key);
    this.#buckets.set(key, taken.bucket);
    for (const oldest of this.#buckets.keys()) {
      if (this.#buckets.size <= MAX_BUCKETS) break;
      this.#buckets.delete(oldest);
    }
    return { granted: taken.granted, retryAfter: taken.retryAfter };
  }
}
