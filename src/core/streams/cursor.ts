// Stream cursors (PROTOCOL.md §10.1): every live response names the current 20-second interval
// since 2024-10-09T00:00:00Z, so CDNs that collapse long-polls by URL get a new cache key as time
// passes. A client that echoes a cursor at or past the current interval gets a strictly greater
// one (plus 1 s to 1 h of jitter), so cursors never go backwards and a cached empty answer cannot
// loop for ever. Cursors are safe integers: a numeric cursor at or past 2^53 − 1 has no safe
// successor, and no answer gave it (the interval count is in the millions), so it is refused
// (cursorProblem) rather than answered with a smaller one; a cursor that is not a number is not
// ours and counts as absent.
import { problem, type Problem } from "../http/problem.js";

/** The protocol's default cursor epoch (ms since 1970) and interval (s). */
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
export const CURSOR_INTERVAL_S = 20;
const MAX_JITTER_S = 3600;
const DIGITS = /^\d+$/;

/**
 * The 400 for a read whose `cursor` is a number with no safe successor (at least 2^53 − 1, which
 * could not be answered with a greater one), or undefined: absent, not a number, or below it.
 */
export function cursorProblem(clientCursor: string | null | undefined): Problem | undefined {
  if (clientCursor === null || clientCursor === undefined || !DIGITS.test(clientCursor)) return undefined;
  if (Number(clientCursor) < Number.MAX_SAFE_INTEGER) return undefined;
  return problem(
    "malformed-request",
    `cursor must be a Stream-Cursor a live answer gave: a whole number below ${Number.MAX_SAFE_INTEGER}`,
  );
}

/**
 * The cursor for a live response at `nowMs`, given the client's echoed `cursor` (if any; one
 * `cursorProblem` refuses is never passed); `random` is in [0, 1) (Math.random in production,
 * fixed in tests). Strictly greater than an echoed cursor at or past the current interval, and at
 * most 2^53 − 1.
 */
export function responseCursor(clientCursor: string | null | undefined, nowMs: number, random: number): string {
  const current = Math.floor((nowMs - CURSOR_EPOCH_MS) / (CURSOR_INTERVAL_S * 1000));
  const echoed =
    clientCursor === null || clientCursor === undefined || !DIGITS.test(clientCursor)
      ? Number.NaN
      : Number(clientCursor);
  if (Number.isNaN(echoed) || echoed < current) return String(current);
  const jitterS = 1 + Math.floor(random * MAX_JITTER_S);
  return String(Math.min(echoed + Math.max(1, Math.ceil(jitterS / CURSOR_INTERVAL_S)), Number.MAX_SAFE_INTEGER));
}
