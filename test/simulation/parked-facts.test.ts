// The simulator exercises parked facts (src/simulation/config.ts `queueLimitsFor`): a share of runs
// get a queue message limit tight enough that facts are parked, their notices travel the simulated
// queue, and the consumer's side reads each fact from its entity, with every invariant kept.
import { describe, expect, it } from "vitest";
import { referenceApp } from "../../reference/simulation.js";
import { RELAY_POLICY } from "../../src/core/outbox/relay.js";
import { PRODUCTION_QUEUE_LIMITS, queueLimitsFor } from "../../src/simulation/config.js";
import { runSimulation, type RunResult } from "../../src/simulation/run.js";

describe("parked facts in the simulator", () => {
  // One run under a tight limit, read by the two specifications below.
  let tightRun: Promise<RunResult> | undefined;
  const tight = () =>
    (tightRun ??= runSimulation({
      seed: 7,
      app: () => referenceApp(),
      operations: 400,
      queueLimits: { relay: { ...RELAY_POLICY, messageBytes: 570 }, queueMessageBytes: 550, tight: true },
    }));

  it("parks facts over a tight message limit, and the views still equal the logs", async () => {
    const run = await tight();
    expect(run.parked).toBeGreaterThan(0);
    expect(run.anomalies).toEqual([]);
  });

  it("has the consumer record each parked fact's notice for operators once, as it resolves it", async () => {
    const run = await tight();
    expect(run.parkedRecorded).toBeGreaterThan(0);
    expect(run.parkedRecorded).toBeLessThanOrEqual(run.parked);
    expect(run.anomalies).toEqual([]);
  });

  it("parks nothing under production's limits", async () => {
    const run = await runSimulation({
      seed: 7,
      app: () => referenceApp(),
      operations: 400,
      queueLimits: PRODUCTION_QUEUE_LIMITS,
    });
    expect(run.parked).toBe(0);
    expect(run.anomalies).toEqual([]);
  });

  it("gives about one run in four a tight limit, the same one for the same seed", () => {
    const tight = Array.from({ length: 400 }, (_, seed) => queueLimitsFor(seed).tight).filter(Boolean).length;
    expect(tight).toBeGreaterThan(70);
    expect(tight).toBeLessThan(130);
    expect(queueLimitsFor(12345)).toEqual(queueLimitsFor(12345));
  });

  it("sets the queue's own limit at or below the relay's in a tight run, so the queue refuses some facts itself", () => {
    const limits = Array.from({ length: 400 }, (_, seed) => queueLimitsFor(seed)).filter((l) => l.tight);
    for (const l of limits) expect(l.queueMessageBytes).toBeLessThanOrEqual(l.relay.messageBytes);
    expect(limits.some((l) => l.queueMessageBytes < l.relay.messageBytes)).toBe(true);
  });
});
