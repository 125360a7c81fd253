// How long a stream read's answer may be reused (PROTOCOL.md §8.1): catch-up and long-poll answers
// are `private, max-age=60, stale-while-revalidate=300` (private: a stream is its tenant's), and
// an answer naming the tail is not cached (HEAD and `offset=now` are `no-store`, "to avoid stale
// tail offsets"). So:
// - an empty answer at an open stream's tail is `no-store`;
// - a catch-up answer that reaches an open stream's tail (`offset=-1` of a stream smaller than a
//   page, any read that catches up) names the tail and grows with the next append: `no-cache`,
//   reused only once revalidated, which its ETag makes a 304 while nothing was appended. A
//   long-poll's is cached as the protocol allows: its URL carries the cursor, which moves on;
// - any other answer (a full page short of the tail, or one ending at a closed stream's end)
//   never changes and is cached, but never past the stream's expiry: max-age and
//   stale-while-revalidate together end within the stream's remaining lifetime.

/** What decides a read answer's caching. */
export interface ReadAnswer {
  /** It carries messages. */
  readonly data: boolean;
  /** It is a long-poll's answer. */
  readonly longPoll: boolean;
  /** It ends at the tail of a stream still open (it would grow with the next append). */
  readonly atOpenTail: boolean;
  /** Milliseconds until the stream expires (a sliding TTL restarted by this read), or undefined: never. */
  readonly msLeft: number | undefined;
}

const MAX_AGE_S = 60;
const STALE_WHILE_REVALIDATE_S = 300;

/** The `Cache-Control` of a catch-up or long-poll answer (see the rules above). */
export function readCacheControl(a: ReadAnswer): string {
  if (a.atOpenTail && !a.data) return "no-store";
  if (a.atOpenTail && !a.longPoll) return "private, no-cache";
  const left = a.msLeft === undefined ? Number.POSITIVE_INFINITY : Math.floor(a.msLeft / 1000);
  if (left <= 0) return "no-store";
  const maxAge = Math.min(MAX_AGE_S, left);
  const stale = Math.min(STALE_WHILE_REVALIDATE_S, left - maxAge);
  return stale > 0 ? `private, max-age=${maxAge}, stale-while-revalidate=${stale}` : `private, max-age=${maxAge}`;
}
