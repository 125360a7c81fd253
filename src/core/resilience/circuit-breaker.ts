// The circuit breaker as a pure state machine: closed → open after consecutive failures, open →
// half-open once the cool-down passed (one probe call let through), half-open → closed when the
// probe succeeds or back to open when it fails. Only the probe moves a breaker out of open or
// half-open (Nygard's pattern): the outcome of any other call (one admitted while it was still
// closed, answering after it opened, or an earlier probe answering late) changes nothing there, so
// an open breaker never closes without its probe. Where the state lives (shared by all isolates)
// is the host's concern; every transition is returned so the host can record it as a fact.

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

/**
 * An admission's verdict. The half-open probe carries the `probeSince` it was let through at: its
 * outcome is reported with it (`ProbeMark`), which is how the breaker tells its probe's answer
 * from a late answer of a call admitted before it opened.
 */
export type Admission =
  | { readonly allowed: true; readonly probe: false }
  | { readonly allowed: true; readonly probe: true; readonly probeSince: number }
  | { readonly allowed: false; readonly retryAfterMs: number };

/** Which call a reported outcome is of: the probe let through at this time (its admission's `probeSince`), or null for any other call. */
export type ProbeMark = number | null;

/** The mark an admitted call reports its outcome with. */
export function probeMark(admission: Admission): ProbeMark {
  return admission.allowed && admission.probe ? admission.probeSince : null;
}

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
        verdict: { allowed: true, probe: true, probeSince: now },
      };
    }
    case "half-open": {
      // A probe whose answer never came back must not wedge the breaker: allow another later.
      const probeExpiresAt = (state.probeSince ?? now) + policy.openMs;
      if (now < probeExpiresAt)
        return { state, transition: null, verdict: { allowed: false, retryAfterMs: probeExpiresAt - now } };
      return {
        state: { ...state, probeSince: now },
        transition: null,
        verdict: { allowed: true, probe: true, probeSince: now },
      };
    }
  }
}

/** Whether `probe` marks the outcome of the probe a half-open breaker is waiting for. */
function isCurrentProbe(state: BreakerState, probe: ProbeMark): boolean {
  return state.status === "half-open" && probe !== null && probe === state.probeSince;
}

/**
 * A call succeeded. Closed: the failure count starts again. Half-open: the probe's success closes
 * it. Any other success while open or half-open (a call admitted before it opened, an earlier
 * probe answering late) changes nothing: only the current probe may close it.
 */
export function recordSuccess(state: BreakerState, now: number, probe: ProbeMark): BreakerStep {
  if (state.status === "closed") {
    return { state: state.consecutiveFailures === 0 ? state : CLOSED_BREAKER, transition: null, verdict: undefined };
  }
  if (!isCurrentProbe(state, probe)) return { state, transition: null, verdict: undefined };
  return {
    state: CLOSED_BREAKER,
    transition: { from: "half-open", to: "closed", at: now, reason: "the probe succeeded" },
    verdict: undefined,
  };
}

/**
 * A call failed. Closed: counted, and the threshold opens it. Half-open: the probe's failure opens
 * it again for another cool-down. Any other failure while open or half-open changes nothing.
 */
export function recordFailure(
  state: BreakerState,
  policy: BreakerPolicy,
  now: number,
  error: string,
  probe: ProbeMark,
): BreakerStep {
  const failures = state.consecutiveFailures + 1;
  if (isCurrentProbe(state, probe)) {
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
  // Failures reported while open or half-open but not by its probe (calls admitted before it
  // opened, an earlier probe answering late) change nothing.
  return {
    state: state.status === "closed" ? { ...state, consecutiveFailures: failures } : state,
    transition: null,
    verdict: undefined,
  };
}
