// Hybrid logical clock: physical milliseconds plus a logical counter, so that an event caused by
// another is always stamped later, whatever the skew between the machines that recorded them.
// Encoded as a fixed-width string that sorts the same way the clocks compare.

export interface Hlc {
  readonly wall: number;
  readonly logical: number;
}

export const HLC_ZERO: Hlc = { wall: 0, logical: 0 };

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall - b.wall || a.logical - b.logical;
}

/** The clock for a new local event, given the last one issued here and the clock of its cause. */
export function tick(last: Hlc, now: number, cause: Hlc = HLC_ZERO): Hlc {
  const wall = Math.max(last.wall, cause.wall, now);
  let logical = 0;
  if (wall === last.wall && wall === cause.wall) logical = Math.max(last.logical, cause.logical) + 1;
  else if (wall === last.wall) logical = last.logical + 1;
  else if (wall === cause.wall) logical = cause.logical + 1;
  return { wall, logical };
}

export function encodeHlc(h: Hlc): string {
  return `${h.wall.toString().padStart(15, "0")}.${h.logical.toString().padStart(6, "0")}`;
}

const HLC_PATTERN = /^(\d{15})\.(\d{6})$/;

export function decodeHlc(text: string): Hlc | undefined {
  const m = HLC_PATTERN.exec(text);
  if (!m) return undefined;
  return { wall: Number(m[1]), logical: Number(m[2]) };
}
