// A token bucket as plain data: `burst` tokens at most, refilled at `rate` per second. Taking a
// token either succeeds or says how many seconds until one is there (for Retry-After).

export interface Bucket {
  readonly tokens: number;
  readonly updatedAt: number;
}

export type Take = { readonly ok: true; readonly bucket: Bucket } | { readonly ok: false; readonly bucket: Bucket; readonly retryAfter: number };

export function fullBucket(burst: number, now: number): Bucket {
  return { tokens: burst, updatedAt: now };
}

export function takeToken(bucket: Bucket, limit: { requestsPerSecond: number; burst: number }, now: number): Take {
  const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
  const tokens = Math.min(limit.burst, bucket.tokens + elapsed * limit.requestsPerSecond);
  if (tokens >= 1) return { ok: true, bucket: { tokens: tokens - 1, updatedAt: now } };
  return { ok: false, bucket: { tokens, updatedAt: now }, retryAfter: Math.max(1, Math.ceil((1 - tokens) / limit.requestsPerSecond)) };
}
