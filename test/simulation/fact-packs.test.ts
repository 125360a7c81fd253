// The simulated tenant API's Worker sends its commands' facts as production's does: held for its
// linger and packed several to a message, so the campaign's faults (drops, duplicates, reordering,
// delays, retries) meet packs, and the consumer settles each pack's facts one by one.
import { describe, expect, it } from "vitest";
import { referenceApp } from "../../reference/simulation.js";
import { queueLimitsFor } from "../../src/simulation/config.js";
import { runSimulation } from "../../src/simulation/run.js";

describe("facts in packs", () => {
  it("travel the queue several to a message under production's limits, with no anomaly", async () => {
    const seed = 12;
    expect(queueLimitsFor(seed).tight).toBe(false);
    const result = await runSimulation({ seed, app: () => referenceApp(), operations: 2500 });
    expect(result.anomalies).toEqual([]);
    expect(result.packs).toBeGreaterThan(0);
  });
});
