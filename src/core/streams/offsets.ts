// Offsets of the Durable Streams protocol (PROTOCOL.md §8) as Factline mints them:
// `<segment>_<count>`, two runs of 16 zero-padded decimal digits, where `count` is the number of
// messages (appends) before the position and `segment` is always 0 (kept for a future compaction
// that would start a new segment; the reference server's offsets have the same shape, and the
// official suite forks at `0000000000000000_0000000000000000`). Opaque to clients, sorted
// lexicographically in stream order, never the sentinels `-1` or `now`; for an entity log
// `count` is exactly the event's sequence number (the offset after event `seq` names `seq`).
import { problem, type Problem } from "../http/problem.js";

/** Digits in each part of an offset; 10^16 messages is beyond any stream a Durable Object holds (10 GB). */
export const OFFSET_DIGITS = 16;
const OFFSET = /^0{16}_(\d{16})$/;
const SEGMENT_ZERO = "0".repeat(OFFSET_DIGITS);

/** The offset after `count` messages (0 → the start of the stream). */
export function formatOffset(count: number): string {
  return `${SEGMENT_ZERO}_${String(count).padStart(OFFSET_DIGITS, "0")}`;
}

/** The message count an offset names, or undefined when `raw` is not an offset this server minted. */
export function parseOffset(raw: string): number | undefined {
  const digits = OFFSET.exec(raw)?.[1];
  if (digits === undefined) return undefined;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Where a read starts: the beginning (`-1` or no offset), the tail (`now`), or after `count` messages. */
export type ReadStart =
  | { readonly kind: "start" }
  | { readonly kind: "now" }
  | { readonly kind: "after"; readonly count: number };

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

/**
 * The refusal (400 `cursor-past-end`, naming the tail) of a read after `count` messages of a
 * stream whose tail is `tail`, or undefined when `count` is at most `tail`. No answer ever named
 * an offset past the tail (the protocol's 400 for an invalid offset, §5.5), and following one
 * would skip whatever is written up to it. `stream` names the stream in the detail.
 */
export function offsetPastTail(count: number, tail: number, stream = "stream"): Problem | undefined {
  if (count <= tail) return undefined;
  return problem(
    "cursor-past-end",
    `offset ${formatOffset(count)} is past the ${stream}'s tail ${formatOffset(tail)}: read from a Stream-Next-Offset this ${stream} returned`,
  );
}
