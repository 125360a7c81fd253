// Stream cursors (PROTOCOL.md §10.1): every live response names the current 20-second interval
// since 2024-10-09T00:00:00Z, so CDNs that collapse long-polls by URL get a new cache key as time
// passes. A client that echoes a cursor at or past the current interval gets a strictly greater
// one (plus 1 s to 1 h of jitter), so cursors never go backwards and a cached empty answer cannot
// loop for ever.

/** The protocol's default cursor epoch (ms since 1970) and interval (s). */
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
export const CURSOR_INTERVAL_S = 20;
const MAX_JITTER_S = 3600;

/**
 * The cursor for a live response at `nowMs`, given the client's echoed `cursor` (if any);
 * `random` is in [0, 1) (Math.random in production, fixed in tests).
 */
export function responseCursor(clientCursor: string | null | undefined, nowMs: number, random: number): string {
  const current = Math.floor((nowMs - CURSOR_EPOCH_MS) / (CURSOR_INTERVAL_S * 1000));
  const echoed =
    clientCursor === null || clientCursor === undefined || !/^\d{1,15}$/.test(clientCursor)
      ? Number.NaN
      : Number(clientCursor);
  if (Number.isNaN(echoed) || echoed < current) return String(current);
  const jitterS = 1 + Math.floor(random * MAX_JITTER_S);
  return String(echoed + Math.max(1, Math.ceil(jitterS / CURSOR_INTERVAL_S)));
}
