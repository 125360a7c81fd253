// The circuit breaker as a pure state machine: closed → open after consecutive failures, open →
// half-open once the cool-down passed (one probe call let through), half-open → closed when the
// probe succeeds or back to open when it fails. Where the state lives (shared by all isolates) is
// the host's concern; every transition is returned so the host can record it as a fact.

export type BreakerStatus = "closed" | "open" | "half-open";

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number;
  /** How long it stays open before letting one probe through (ms). */
  readonly openMs: number;
}

export interface BreakerState {
  readonly status: BreakerStatus;
  readonly consecutiveFailures: number;
  /** When it last opened (ms), or null. */
  readonly openedAt: number | null;
  /** When the half-open probe was let through (ms), or null. */
  readonly probeSince: number | null;
}

export interface BreakerTransition {
  readonly from: BreakerStatus;
  readonly to: BreakerStatus;
  readonly at: number;
  readonly reason: string;
}

export type Admission =
  | { readonly allowed: true; readonly probe: boolean }
  | { readonly allowed: false; readonly retryAfterMs: number };

export interface BreakerStep<T = undefined> {
  readonly state: BreakerState;
  readonly transition: BreakerTransition | null;
  readonly verdict: T;
}

export const CLOSED_BREAKER: BreakerState = {
  status: "closed",
  consecutiveFailures: 0,
  openedAt: null,
  probeSince: null,
};

/** May a call go out now? While open, fail fast; after the cool-down, exactly one probe goes. */
export function admit(state: BreakerState, policy: BreakerPolicy, now: number): BreakerStep<Admission> {
  switch (state.status) {
    case "closed":
      return { state, transition: null, verdict: { allowed: true, probe: false } };
    case "open": {
      const reopensAt = (state.openedAt ?? now) + policy.openMs;
      if (now < reopensAt)
        return { state, transition: null, verdict: { allowed: false, retryAfterMs: reopensAt - now } };
      return {
        state: { ...state, status: "half-open", probeSince: now },
        transition: { from: "open", to: "half-open", at: now, reason: `open for ${policy.openMs} ms; probing` },
        verdict: { allowed: true, probe: true },
      };
    }
    case "half-open": {
      // A probe whose answer never came back must not wedge the breaker: allow another later.
      const probeExpiresAt = (state.probeSince ?? now) + policy.openMs;
      if (now < probeExpiresAt)
        return { state, transition: null, verdict: { allowed: false, retryAfterMs: probeExpiresAt - now } };
      return { state: { ...state, probeSince: now }, transition: null, verdict: { allowed: true, probe: true } };
    }
  }
}

export function recordSuccess(state: BreakerState, now: number): BreakerStep {
  if (state.status === "closed") {
    return { state: state.consecutiveFailures === 0 ? state : CLOSED_BREAKER, transition: null, verdict: undefined };
  }
  return {
    state: CLOSED_BREAKER,
    transition: { from: state.status, to: "closed", at: now, reason: "a call succeeded" },
    verdict: undefined,
  };
}

export function recordFailure(state: BreakerState, policy: BreakerPolicy, now: number, error: string): BreakerStep {
  const failures = state.consecutiveFailures + 1;
  if (state.status === "half-open") {
    return {
      state: { status: "open", consecutiveFailures: failures, openedAt: now, probeSince: null },
      transition: { from: "half-open", to: "open", at: now, reason: `probe failed: ${error}` },
      verdict: undefined,
    };
  }
  if (state.status === "closed" && failures >= policy.failureThreshold) {
    return {
      state: { status: "open", consecutiveFailures: failures, openedAt: now, probeSince: null },
      transition: { from: "closed", to: "open", at: now, reason: `${failures} consecutive failures; last: ${error}` },
      verdict: undefined,
    };
  }
  // Failures reported while already open (calls admitted before it opened) change nothing.
  return {
    state: state.status === "open" ? state : { ...state, consecutiveFailures: failures },
    transition: null,
    verdict: undefined,
  };
}
