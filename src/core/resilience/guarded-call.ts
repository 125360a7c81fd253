// A guarded call to an outside system, one implementation for production (cloud/sagas/guarded-call.ts
// gives it the breaker object's RPC and real timers) and the simulator (src/simulation/breaker.ts
// gives it its breaker objects and its clock): each attempt is first admitted by the dependency's
// shared circuit breaker (failing fast while it is open), is bounded by a timeout, and its outcome
// is reported back; failures are retried with bounded exponential backoff and full jitter. The
// breaker is a dependency too: one that does not answer in time fails the attempt, and a lost
// report only delays the breaker's reaction. Business answers (a decline) are not failures.
import { probeMark, type Admission, type ProbeMark } from "./circuit-breaker.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";

export interface GuardOptions {
  /** Bound of each admission, attempt and report (ms). */
  readonly timeoutMs: number;
  /** Attempts in this call, the first included (1 = no retry here; the caller retries). */
  readonly attempts: number;
  readonly backoff: BackoffPolicy;
}

/** What a guarded call came to: the answer, refused by an open breaker (wait `retryAfterMs`), or failed. */
export type Guarded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly kind: "open"; readonly retryAfterMs: number }
  | { readonly ok: false; readonly kind: "failed"; readonly error: string };

/** The dependency's breaker as a call sees it (production: its Durable Object over RPC). */
export interface BreakerPort {
  readonly name: string;
  admit(): Promise<Admission>;
  /** `ok` false with the attempt's error; `probe` is the admission's mark (`probeMark`: the probe's time, else null). */
  report(ok: boolean, error: string | null, probe: ProbeMark): Promise<void>;
}

/** Time as a guarded call needs it. */
export interface GuardTiming {
  /** `work`'s answer, or a rejection after `ms` (the signal given to `work` is then aborted). */
  bounded<T>(work: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T>;
  sleep(ms: number): Promise<void>;
}

/**
 * Calls `attempt` at most `options.attempts` times, each admitted by `breaker` first: refused
 * (open) ends the call at once with the breaker's retry-after; an attempt that throws or times out
 * is reported as a failure and retried after a backoff; the first answer is reported as a success
 * and returned.
 */
export async function guardedCall<T>(
  breaker: BreakerPort,
  attempt: (signal: AbortSignal) => Promise<T>,
  options: GuardOptions,
  timing: GuardTiming,
): Promise<Guarded<T>> {
  let error = "not attempted";
  for (let i = 1; i <= options.attempts; i++) {
    let admission: Admission;
    try {
      // The breaker is a dependency too: if it does not answer in time, this attempt fails.
      admission = await timing.bounded(() => breaker.admit(), options.timeoutMs);
    } catch (e) {
      error = `circuit breaker unavailable: ${e instanceof Error ? e.message : String(e)}`;
      continue;
    }
    if (!admission.allowed) return { ok: false, kind: "open", retryAfterMs: admission.retryAfterMs };
    // The outcome goes back marked with its admission, so only a probe's outcome moves a breaker
    // that opened meanwhile.
    const probe = probeMark(admission);
    try {
      const value = await timing.bounded(attempt, options.timeoutMs);
      await report(breaker, true, null, probe, options.timeoutMs, timing);
      return { ok: true, value };
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      await report(breaker, false, error, probe, options.timeoutMs, timing);
    }
    if (i < options.attempts) await timing.sleep(backoffDelay(i, options.backoff));
  }
  return { ok: false, kind: "failed", error };
}

async function report(
  breaker: BreakerPort,
  ok: boolean,
  error: string | null,
  probe: ProbeMark,
  ms: number,
  timing: GuardTiming,
): Promise<void> {
  // A lost report only delays the breaker's reaction; it must not fail or hang the call.
  await timing.bounded(() => breaker.report(ok, error, probe), ms).catch(() => undefined);
}
