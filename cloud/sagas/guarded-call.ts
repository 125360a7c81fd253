// Guarded calls to outside systems in production: the shared sequence
// (src/core/resilience/guarded-call.ts: admit, attempt with a timeout, report, retry with backoff)
// over the dependency's breaker object (cloud/sagas/breaker-host.ts, one per dependency name, over
// RPC) and the Worker's real timers.
import {
  guardedCall as guardedSequence,
  type GuardOptions,
  type Guarded,
} from "../../src/core/resilience/guarded-call.js";
import { withTimeout } from "../../src/core/resilience/timeout.js";
import type { BreakerRpc } from "./breaker-host.js";
import { breakerStub } from "../stubs.js";

export type { GuardOptions, Guarded } from "../../src/core/resilience/guarded-call.js";

export function breakerFor(env: Env, name: string): BreakerRpc & { readonly name: string } {
  const stub = breakerStub(env, name);
  return {
    name,
    admit: () => stub.admit(name),
    report: (_n, ok, error, probe) => stub.report(name, ok, error, probe ?? null),
    inspect: () => stub.inspect(name),
  };
}

/** `attempt` as a guarded call through `breaker` (see the shared sequence for the rules). */
export function guardedCall<T>(
  breaker: BreakerRpc & { readonly name: string },
  attempt: (signal: AbortSignal) => Promise<T>,
  options: GuardOptions,
): Promise<Guarded<T>> {
  return guardedSequence(
    {
      name: breaker.name,
      admit: () => breaker.admit(breaker.name),
      report: (ok, error, probe) => breaker.report(breaker.name, ok, error, probe),
    },
    attempt,
    options,
    {
      bounded: (work, ms) => withTimeout(work, ms),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
  );
}
