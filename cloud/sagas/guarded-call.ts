// Guarded calls to outside systems: every attempt has a timeout, is admitted by the dependency's
// shared circuit breaker (failing fast while it is open), and failures are retried with bounded
// exponential backoff and full jitter. Business answers (a decline) are not failures.
import { backoffDelay, type BackoffPolicy } from "../../src/core/resilience/backoff.js";
import { withTimeout } from "../../src/core/resilience/timeout.js";
import type { BreakerRpc } from "./breaker-host.js";
import { breakerStub } from "../stubs.js";

export interface GuardOptions {
  readonly timeoutMs: number;
  /** Attempts in this call, the first included (1 = no retry here; the caller retries). */
  readonly attempts: number;
  readonly backoff: BackoffPolicy;
}

export type Guarded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly kind: "open"; readonly retryAfterMs: number }
  | { readonly ok: false; readonly kind: "failed"; readonly error: string };

export function breakerFor(env: Env, name: string): BreakerRpc & { readonly name: string } {
  const stub = breakerStub(env, name);
  return {
    name,
    admit: () => stub.admit(name),
    report: (_n, ok, error) => stub.report(name, ok, error),
    inspect: () => stub.inspect(name),
  };
}

export async function guardedCall<T>(
  breaker: BreakerRpc & { readonly name: string },
  attempt: (signal: AbortSignal) => Promise<T>,
  options: GuardOptions,
): Promise<Guarded<T>> {
  let error = "not attempted";
  for (let i = 1; i <= options.attempts; i++) {
    let admission: Awaited<ReturnType<BreakerRpc["admit"]>>;
    try {
      // The breaker is a dependency too: if it does not answer in time, this attempt fails.
      admission = await withTimeout(() => breaker.admit(breaker.name), options.timeoutMs);
    } catch (e) {
      error = `circuit breaker unavailable: ${e instanceof Error ? e.message : String(e)}`;
      continue;
    }
    if (!admission.allowed) return { ok: false, kind: "open", retryAfterMs: admission.retryAfterMs };
    try {
      const value = await withTimeout(attempt, options.timeoutMs);
      await report(breaker, true, null, options.timeoutMs);
      return { ok: true, value };
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      await report(breaker, false, error, options.timeoutMs);
    }
    if (i < options.attempts) await new Promise((resolve) => setTimeout(resolve, backoffDelay(i, options.backoff)));
  }
  return { ok: false, kind: "failed", error };
}

async function report(
  breaker: BreakerRpc & { readonly name: string },
  ok: boolean,
  error: string | null,
  ms: number,
): Promise<void> {
  // A lost report only delays the breaker's reaction; it must not fail or hang the call.
  await withTimeout(() => breaker.report(breaker.name, ok, error), ms).catch(() => undefined);
}
