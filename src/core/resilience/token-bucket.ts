// A token bucket as plain data: `burst` tokens at most, refilled at `rate` per second. Taking a
// token either succeeds or says how many seconds until one is there (for Retry-After).
//
// A tenant's bucket lives in its gate object; isolates do not ask it per request but lease a few
// tokens at a time (`leaseSize`) and spend them locally until they run out or expire
// (`LEASE_TTL_MS`). Every admitted request still spends a token of the one bucket, so leases never
// admit more than the limit; tokens an isolate leased and did not spend lapse unused, so a busy
// tenant spread over many isolates may see up to one lease per isolate per TTL less than its
// limit (erring towards refusing, never towards admitting).

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
