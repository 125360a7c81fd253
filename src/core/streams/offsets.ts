// Offsets of the Durable Streams protocol (PROTOCOL.md §8) as Factline mints them:
// `<generation>_<count>`, two runs of 16 zero-padded decimal digits, where `count` is the number
// of messages (appends) before the position and `generation` numbers the streams created at one
// URL: 0 for the first, one more each time the URL's stream is created again after a delete or an
// expiry, so that an offset of a stream gone since is refused (410 `offset-gone`) instead of
// naming a position in its successor. Entity logs and view feeds are never re-created: their
// generation is always 0. Opaque to clients, sorted lexicographically in stream order within a
// generation, never the sentinels `-1` or `now`; for an entity log `count` is exactly the event's
// sequence number (the offset after event `seq` names `seq`). The official suite forks a new
// stream at `0000000000000000_0000000000000000`, which a first generation's offsets keep.
import { problem, type Problem } from "../http/problem.js";

/** Digits in each part of an offset; 10^16 messages is beyond any stream a Durable Object holds (10 GB). */
export const OFFSET_DIGITS = 16;
const OFFSET = /^(\d{16})_(\d{16})$/;

/** The offset after `count` messages (0 → the start of the stream) of the stream's `generation`. */
export function formatOffset(count: number, generation = 0): string {
  return `${String(generation).padStart(OFFSET_DIGITS, "0")}_${String(count).padStart(OFFSET_DIGITS, "0")}`;
}

/** The generation and message count `raw` names, or undefined when it is not an offset's shape. */
export function offsetParts(raw: string): { readonly generation: number; readonly count: number } | undefined {
  const m = OFFSET.exec(raw);
  if (m === null) return undefined;
  const generation = Number(m[1]);
  const count = Number(m[2]);
  return Number.isSafeInteger(generation) && Number.isSafeInteger(count) ? { generation, count } : undefined;
}

/**
 * `parseReadStart` for a log that is never created again (an entity's, a view's change feed): its
 * offsets are all of generation 0, so another generation's is not one it issued (`undefined`).
 */
export function parseLogReadStart(raw: string | undefined): ReadStart | undefined {
  const start = parseReadStart(raw);
  return start?.kind === "after" && start.generation !== 0 ? undefined : start;
}

/**
 * Why an offset of `generation` (a read's, or a fork's `Stream-Fork-Offset`: `what`) is refused by
 * a stream now in `current`: `offset-gone` (410) for an earlier generation, a stream deleted or
 * expired from this URL since, whose count names a position in a stream that no longer exists
 * (read the current one from `-1`); `malformed-request` (400) for a later one, never minted; or
 * undefined when it is the stream's own.
 */
export function offsetOfAnotherGeneration(
  generation: number,
  current: number,
  what = "the offset",
): { readonly kind: "offset-gone" | "malformed-request"; readonly detail: string } | undefined {
  if (generation === current) return undefined;
  return generation < current
    ? {
        kind: "offset-gone",
        detail: `${what} is of a stream deleted from this URL since; the stream here now is another: read it from -1`,
      }
    : { kind: "malformed-request", detail: `${what} is not one this stream issued` };
}

/**
 * Where a read starts: the beginning (`-1` or no offset), the tail (`now`), or after `count`
 * messages of the stream's `generation` (which the reader checks is the stream's own).
 */
export type ReadStart =
  | { readonly kind: "start" }
  | { readonly kind: "now" }
  | { readonly kind: "after"; readonly generation: number; readonly count: number };

/**
 * The `offset` query parameter of a read (§5.6, §8): absent or `-1` is the start, `now` the tail,
 * otherwise an offset's shape. Anything else (empty, `,`, spaces, path fragments) is `undefined`,
 * answered 400.
 */
export function parseReadStart(raw: string | undefined): ReadStart | undefined {
  if (raw === undefined || raw === "-1") return { kind: "start" };
  if (raw === "now") return { kind: "now" };
  const parts = offsetParts(raw);
  return parts === undefined ? undefined : { kind: "after", ...parts };
}

/**
 * The refusal (400 `cursor-past-end`, naming the tail) of a read after `count` messages of a
 * stream whose tail is `tail`, or undefined when `count` is at most `tail`. No answer ever named
 * an offset past the tail (the protocol's 400 for an invalid offset, §5.5), and following one
 * would skip whatever is written up to it. `stream` names the stream in the detail.
 */
export function offsetPastTail(count: number, tail: number, stream = "stream", generation = 0): Problem | undefined {
  if (count <= tail) return undefined;
  return problem(
    "cursor-past-end",
    `offset ${formatOffset(count, generation)} is past the ${stream}'s tail ${formatOffset(tail, generation)}: read from a Stream-Next-Offset this ${stream} returned`,
  );
}
