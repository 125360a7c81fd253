// When a stream expires (PROTOCOL.md §4, §5.1): a sliding `Stream-TTL` window that every read and
// write (not HEAD) restarts, or an absolute `Stream-Expires-At`. A fork's lifetime follows the
// table of §4.2: its own TTL or expiry if it asks for one, else its source's.

/** How a stream's lifetime is bounded (at most one of the two is set). */
export interface Lifetime {
  readonly ttlSeconds: number | undefined;
  readonly expiresAt: string | undefined;
}

/** The instant (ms) the stream expires, given when it was last read or written; undefined: never. */
export function expiryTime(life: Lifetime, touchedAtMs: number): number | undefined {
  if (life.expiresAt !== undefined) return Date.parse(life.expiresAt);
  if (life.ttlSeconds !== undefined) return touchedAtMs + life.ttlSeconds * 1000;
  return undefined;
}

/** True when the stream has expired at `nowMs`. */
export function isExpired(life: Lifetime, touchedAtMs: number, nowMs: number): boolean {
  const at = expiryTime(life, touchedAtMs);
  return at !== undefined && nowMs >= at;
}

/** A fork's lifetime (§4.2 table): what it asks for, else what its source has. */
export function forkLifetime(requested: Lifetime, source: Lifetime): Lifetime {
  if (requested.ttlSeconds !== undefined || requested.expiresAt !== undefined) return requested;
  return source;
}
