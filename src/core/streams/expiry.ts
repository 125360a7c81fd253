// When a stream expires (PROTOCOL.md §4, §5.1): a sliding `Stream-TTL` window that every read and
// write (not HEAD) restarts, and that live readers hold while they wait (the object counts them:
// edge/streams/durable-stream-host.ts), or an absolute `Stream-Expires-At`. A fork's lifetime
// follows the table of §4.2: its own TTL or expiry if it asks for one, else its source's. Both are bounded
// (MAX_TTL_SECONDS, LATEST_EXPIRY): the object arms an alarm at the expiry, and the runtime's
// alarms end in 2262 (src/core/runtime/alarm-time.ts), so a later one is refused at the door
// rather than failing the create after it committed.

/** The latest `Stream-Expires-At` accepted, as text (named in the refusal) and in ms since 1970. */
export const LATEST_EXPIRY = "2200-01-01T00:00:00Z";
export const LATEST_EXPIRY_MS = Date.parse(LATEST_EXPIRY);
/** The longest `Stream-TTL` accepted: 100 years of 365 days (a sliding window a read restarts). */
export const MAX_TTL_SECONDS = 100 * 365 * 24 * 60 * 60;

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
