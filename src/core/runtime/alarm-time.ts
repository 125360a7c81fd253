// The instants a Durable Object alarm can be armed at. The runtime keeps an alarm's time as
// nanoseconds since 1970 in a signed 64-bit integer, so `setAlarm` throws for an instant past
// 2262-04-11 (its message says 2189) and for one at or before 1970-01-01T00:00:00Z ("alarm time
// <= 0"). An alarm computed from data or from a clock (a stream's expiry, a saga's wake-up, a
// retry after a clock that jumped) could land outside that range; thrown there, the error
// surfaces after the request's writes committed. Every `setAlarm` therefore arms
// `alarmTime(at)`: an instant already past fires at once, and one due after the runtime's limit
// is armed at the limit, where its handler, finding nothing due yet, arms it again.

/** The latest instant armed (2262-01-01T00:00:00Z): inside the runtime's limit by months. */
export const LATEST_ALARM_MS = Date.UTC(2262, 0, 1);

/**
 * The instant to arm for an alarm due at `at` (ms since 1970): `at` itself when the runtime
 * accepts it, 1 ms after 1970 (fires at once) for any instant at or before 1970 (or NaN), and
 * {@link LATEST_ALARM_MS} for any instant after it (or +Infinity).
 */
export function alarmTime(at: number): number {
  if (Number.isNaN(at) || at < 1) return 1;
  return Math.min(at, LATEST_ALARM_MS);
}
