// Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014): physical milliseconds
// plus a logical counter, so that an event caused by another is always stamped later, whatever
// the skew between the machines that recorded them. Encoded as a fixed-width string
// (15 wall digits, '.', 6 logical digits) that sorts the same way the clocks compare.
//
// Both parts are bounded so the encoding stays fixed-width: the logical counter carries into the
// wall part when it would need a seventh digit, and a cause's clock is accepted only within
// `MAX_CAUSE_DRIFT_MS` of the local wall clock — otherwise one bad clock (a peer's, or a client's
// header) would drag every later event of an entity, and through sagas of others, into the future.

export interface Hlc {
  /** Physical part: epoch milliseconds, 0 ≤ wall ≤ MAX_WALL. */
  readonly wall: number;
  /** Logical part: 0 ≤ logical ≤ MAX_LOGICAL. */
  readonly logical: number;
}

export const HLC_ZERO: Hlc = { wall: 0, logical: 0 };

/** Largest wall part the 15-digit encoding holds (year 33658; never reached within the drift bound). */
export const MAX_WALL = 999_999_999_999_999;
/** Largest logical part the 6-digit encoding holds; one more carries into the wall part. */
export const MAX_LOGICAL = 999_999;

/**
 * How far ahead of the local wall clock a cause's clock may be, in milliseconds: 5 minutes. Peers
 * bound it the same way (CockroachDB refuses a node whose clock is off by more than its max offset,
 * 500 ms by default; MongoDB refuses cluster times too far ahead); ours is generous because a cause
 * may come from another data centre's entity through a saga, and strict enough that one bad clock
 * cannot move an entity's time by more than this.
 */
export const MAX_CAUSE_DRIFT_MS = 5 * 60_000;

/** Negative, zero or positive as `a` is before, equal to or after `b`. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall - b.wall || a.logical - b.logical;
}

/**
 * The clock for a new local event, given the last one issued here and the clock of its cause:
 * strictly after both, and never behind `now` (epoch ms). When the logical part would pass
 * MAX_LOGICAL it carries into the wall part (wall + 1 ms, logical 0), which keeps the order.
 */
export function tick(last: Hlc, now: number, cause: Hlc = HLC_ZERO): Hlc {
  const wall = Math.max(last.wall, cause.wall, now);
  let logical = 0;
  if (wall === last.wall && wall === cause.wall) logical = Math.max(last.logical, cause.logical) + 1;
  else if (wall === last.wall) logical = last.logical + 1;
  else if (wall === cause.wall) logical = cause.logical + 1;
  if (logical > MAX_LOGICAL) return { wall: wall + 1, logical: 0 };
  return { wall, logical };
}

/** The fixed-width text form; throws for a clock outside the bounds (a bug, never client input). */
export function encodeHlc(h: Hlc): string {
  if (!isBounded(h)) throw new RangeError(`hybrid logical clock out of range: ${h.wall}.${h.logical}`);
  return `${h.wall.toString().padStart(15, "0")}.${h.logical.toString().padStart(6, "0")}`;
}

const HLC_PATTERN = /^(\d{15})\.(\d{6})$/;

/** The clock a text encodes, or undefined when it is not exactly the fixed-width form. */
export function decodeHlc(text: string): Hlc | undefined {
  const m = HLC_PATTERN.exec(text);
  if (!m) return undefined;
  return { wall: Number(m[1]), logical: Number(m[2]) };
}

/**
 * The clock stored with an entity's newest event. Throws when it does not decode: the clock must
 * never silently restart from zero (later events would sort before earlier ones).
 */
export function decodeStoredHlc(text: string): Hlc {
  const h = decodeHlc(text);
  if (!h) throw new Error(`stored hybrid logical clock ${JSON.stringify(text.slice(0, 40))} does not decode`);
  return h;
}

/** Why a cause's clock was refused; stable, so callers can tell the client which rule it broke. */
export type CauseClockError = "malformed" | "too-far-ahead";

/**
 * A cause's clock as a client or a saga sends it (`Factline-Cause-Clock`), checked against the
 * local wall clock `now` (epoch ms): the fixed-width form, at most MAX_CAUSE_DRIFT_MS ahead.
 * A cause in the past is always fine (the local clock wins).
 */
export function parseCauseClock(
  text: string,
  now: number,
): { ok: true; hlc: Hlc } | { ok: false; error: CauseClockError } {
  const h = decodeHlc(text);
  if (!h) return { ok: false, error: "malformed" };
  if (h.wall > now + MAX_CAUSE_DRIFT_MS) return { ok: false, error: "too-far-ahead" };
  return { ok: true, hlc: h };
}

function isBounded(h: Hlc): boolean {
  return (
    Number.isSafeInteger(h.wall) &&
    Number.isSafeInteger(h.logical) &&
    h.wall >= 0 &&
    h.wall <= MAX_WALL &&
    h.logical >= 0 &&
    h.logical <= MAX_LOGICAL
  );
}
