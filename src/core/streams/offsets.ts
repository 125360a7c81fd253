// Offsets of the Durable Streams protocol (PROTOCOL.md §8) as Factline mints them: the number of
// messages before the position, as 16 zero-padded decimal digits. That is opaque to clients, sorts
// lexicographically in stream order, never collides with the sentinels `-1` and `now`, and for
// an entity log is exactly the event's sequence number (the offset after event `seq` is `seq`).

/** Digits in an offset; 10^16 messages is beyond any stream a Durable Object holds (10 GB). */
export const OFFSET_DIGITS = 16;
const OFFSET = /^\d{16}$/;

/** The offset after `count` messages (0 → the start of the stream). */
export function formatOffset(count: number): string {
  return String(count).padStart(OFFSET_DIGITS, "0");
}

/** The message count an offset names, or undefined when `raw` is not an offset this server minted. */
export function parseOffset(raw: string): number | undefined {
  if (!OFFSET.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Where a read starts: the beginning (`-1` or no offset), the tail (`now`), or after `count` messages. */
export type ReadStart = { readonly kind: "start" } | { readonly kind: "now" } | { readonly kind: "after"; readonly count: number };

/**
 * The `offset` query parameter of a read (§5.6, §8): absent or `-1` is the start, `now` the tail,
 * otherwise an offset this server minted. Anything else (empty, `,`, spaces, path fragments) is
 * `undefined`, answered 400.
 */
export function parseReadStart(raw: string | undefined): ReadStart | undefined {
  if (raw === undefined || raw === "-1") return { kind: "start" };
  if (raw === "now") return { kind: "now" };
  const count = parseOffset(raw);
  return count === undefined ? undefined : { kind: "after", count };
}
