// The simulator's clients reach what the campaign is meant to check: every rule of client
// sessions (decided, answered again — also by an object evicted since —, refused as answered
// before, refused as a reused number) and
// both sides of each recorded header's bound — so a campaign with no anomaly means those rules held,
// not that the workload never got there.
import { beforeAll, describe, expect, it } from "vitest";
import { referenceApp } from "../../reference/simulation.js";
import { runSimulation } from "../../src/simulation/run.js";

describe("simulated clients", () => {
  // A whole run (2,500 operations): since admission refuses a share of the commands (suspended
  // tenants, rate limits), a shorter one may not reach a session retry after an eviction.
  let result: Awaited<ReturnType<typeof runSimulation>>;
  beforeAll(async () => {
    result = await runSimulation({ seed: 11, app: () => referenceApp(), operations: 2500 });
  });

  it("reach every client-session rule and both sides of the header bounds in one run, with no anomaly", () => {
    expect(result.anomalies).toEqual([]);
    expect(result.sessions.decided).toBeGreaterThan(0);
    expect(result.sessions.replayed).toBeGreaterThan(0);
    expect(result.sessions.replayedAfterEviction).toBeGreaterThan(0);
    expect(result.sessions.answeredBefore).toBeGreaterThan(0);
    expect(result.sessions.reused).toBeGreaterThan(0);
    expect(result.headers.recordedAtBound).toBeGreaterThan(0);
    expect(result.headers.refusedOverBound).toBeGreaterThan(0);
  });

  // Loose release and ship of inventory (internal since the saga alone may send them) come from
  // inside the platform, so the entity's rules for them are still exercised with adversarial ids.
  it("send internal commands as a caller inside the platform, which the entity decides", () => {
    expect(result.headers.internalDecided).toBeGreaterThan(0);
  });
});
