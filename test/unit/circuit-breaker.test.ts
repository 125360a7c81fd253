// The circuit breaker's state machine, given-when-then, with the clock passed in.
import { describe, expect, it } from "vitest";
import {
  admit,
  CLOSED_BREAKER,
  recordFailure,
  recordSuccess,
  type BreakerState,
} from "../../src/core/resilience/circuit-breaker.js";

const policy = { failureThreshold: 3, openMs: 1_000 };

function failTimes(state: BreakerState, n: number, at: number): BreakerState {
  let s = state;
  for (let i = 0; i < n; i++) s = recordFailure(s, policy, at, "boom", null).state;
  return s;
}

describe("circuit breaker", () => {
  it("given a closed breaker, when calls fail fewer times than the threshold, it stays closed and admits calls", () => {
    const state = failTimes(CLOSED_BREAKER, 2, 0);
    expect(state.status).toBe("closed");
    expect(admit(state, policy, 1).verdict).toEqual({ allowed: true, probe: false });
  });

  it("given a closed breaker, when failures reach the threshold, it opens and records the transition", () => {
    const twice = failTimes(CLOSED_BREAKER, 2, 0);
    const step = recordFailure(twice, policy, 50, "timeout", null);
    expect(step.state.status).toBe("open");
    expect(step.transition).toMatchObject({ from: "closed", to: "open", at: 50 });
    expect(step.transition?.reason).toContain("timeout");
  });

  it("given a success between failures, the count starts again", () => {
    const state = recordSuccess(failTimes(CLOSED_BREAKER, 2, 0), 1, null).state;
    expect(failTimes(state, 2, 2).status).toBe("closed");
  });

  it("given an open breaker, calls fail fast with the time left until it probes", () => {
    const open = failTimes(CLOSED_BREAKER, 3, 0);
    expect(admit(open, policy, 400).verdict).toEqual({ allowed: false, retryAfterMs: 600 });
  });

  it("given an open breaker past its cool-down, exactly one probe is let through", () => {
    const open = failTimes(CLOSED_BREAKER, 3, 0);
    const probe = admit(open, policy, 1_000);
    expect(probe.verdict).toEqual({ allowed: true, probe: true, probeSince: 1_000 });
    expect(probe.transition).toMatchObject({ from: "open", to: "half-open" });
    expect(admit(probe.state, policy, 1_001).verdict).toMatchObject({ allowed: false });
  });

  it("given a half-open breaker, a successful probe closes it", () => {
    const halfOpen = admit(failTimes(CLOSED_BREAKER, 3, 0), policy, 1_000).state;
    const step = recordSuccess(halfOpen, 1_010, 1_000);
    expect(step.state).toEqual(CLOSED_BREAKER);
    expect(step.transition).toMatchObject({ from: "half-open", to: "closed", reason: "the probe succeeded" });
  });

  it("given a half-open breaker, a failed probe opens it again for another cool-down", () => {
    const halfOpen = admit(failTimes(CLOSED_BREAKER, 3, 0), policy, 1_000).state;
    const step = recordFailure(halfOpen, policy, 1_010, "still down", 1_000);
    expect(step.state).toMatchObject({ status: "open", openedAt: 1_010 });
    expect(admit(step.state, policy, 1_500).verdict).toEqual({ allowed: false, retryAfterMs: 510 });
  });

  it("given a probe that never answered, another probe is allowed after a cool-down", () => {
    const halfOpen = admit(failTimes(CLOSED_BREAKER, 3, 0), policy, 1_000).state;
    expect(admit(halfOpen, policy, 2_000).verdict).toEqual({ allowed: true, probe: true, probeSince: 2_000 });
  });

  it("given an open breaker, a call admitted before it opened that then succeeds leaves it open", () => {
    const open = failTimes(CLOSED_BREAKER, 3, 0);
    const step = recordSuccess(open, 18, null);
    expect(step.state).toBe(open);
    expect(step.transition).toBeNull();
    expect(admit(step.state, policy, 18).verdict).toEqual({ allowed: false, retryAfterMs: 982 });
  });

  it("given a half-open breaker, a success of a call other than its probe leaves it half-open", () => {
    const halfOpen = admit(failTimes(CLOSED_BREAKER, 3, 0), policy, 1_000).state;
    const step = recordSuccess(halfOpen, 1_010, null);
    expect(step.state).toBe(halfOpen);
    expect(step.transition).toBeNull();
  });

  it("given a half-open breaker, a failure of a call other than its probe leaves it half-open", () => {
    const halfOpen = admit(failTimes(CLOSED_BREAKER, 3, 0), policy, 1_000).state;
    const step = recordFailure(halfOpen, policy, 1_010, "late timeout", null);
    expect(step.state).toBe(halfOpen);
    expect(step.transition).toBeNull();
  });

  it("given a second probe after one that never answered, the first one's late success does not close it", () => {
    const first = admit(failTimes(CLOSED_BREAKER, 3, 0), policy, 1_000);
    const second = admit(first.state, policy, 2_000);
    expect(recordSuccess(second.state, 2_010, 1_000).state).toBe(second.state);
    expect(recordSuccess(second.state, 2_010, 2_000).state).toEqual(CLOSED_BREAKER);
  });
});
