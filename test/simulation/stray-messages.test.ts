// A message on the facts queue that is no fact (a stray producer's, a hand-sent test message) is
// read by production's own decoder in the simulator's consumer: dead-lettered once, as it came,
// and never applied to a view; the quiet-state invariant counts them (src/simulation/world.ts).
import { describe, expect, it } from "vitest";
import { referenceApp } from "../../reference/simulation.js";
import { decodeFactsMessage } from "../../src/core/consumer/facts-message.js";
import { DEFAULT_FAULTS } from "../../src/simulation/faults.js";
import { runSimulation } from "../../src/simulation/run.js";

describe("stray messages on the facts queue", () => {
  it("dead-letters every message that is no fact, and every view still equals its log", async () => {
    const run = await runSimulation({
      seed: 3,
      app: () => referenceApp(),
      operations: 300,
      faults: { ...DEFAULT_FAULTS, queueStray: 0.2 },
    });
    expect(run.strays).toBeGreaterThan(10);
    expect(run.anomalies).toEqual([]);
  });

  it("reads a notice with a field it does not know as no notice and no fact", () => {
    const decoded = decodeFactsMessage({
      kind: "factline.fact-parked",
      tenant: "t1",
      entitytype: "inventory",
      entityid: "a",
      seq: 1,
      eventid: "e-1",
      eventtype: "Restocked",
      bytes: 700,
      reason: "too large",
      parkedAt: 0,
      extra: true,
    });
    expect(decoded.kind).toBe("invalid");
  });
});
