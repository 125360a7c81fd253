// Read-your-writes costs a bounded number of D1 queries: a view read presenting a consistency
// token probes the projection's checkpoint on a short doubling schedule, never every 50 ms.
import { describe, expect, it } from "vitest";
import { CONSISTENCY_WAIT, probeDelays, waitUntilApplied } from "../../cloud/projections/read-your-writes.js";

/**
 * Runs the wait on a clock of its own, with a probe that turns true at probe number `freshAt`
 * (never if undefined) and takes `probeMs` of that clock.
 */
async function run(freshAt?: number, probeMs = 0) {
  let now = 0;
  let probes = 0;
  const slept: number[] = [];
  const fresh = await waitUntilApplied(
    async () => {
      now += probeMs;
      return ++probes === freshAt;
    },
    probeDelays(CONSISTENCY_WAIT.firstMs, CONSISTENCY_WAIT.totalMs),
    {
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
      now: () => now,
    },
  );
  return { fresh, probes, slept, elapsed: now };
}

describe("read-your-writes wait", () => {
  it("probes a view that never catches up at most eight times over its two seconds", async () => {
    const { fresh, probes, slept } = await run();
    expect(fresh).toBe(false);
    expect(probes).toBe(8);
    expect(slept.reduce((a, b) => a + b, 0)).toBe(2_000);
  });

  it("stops probing as soon as the view includes the write", async () => {
    expect(await run(1)).toMatchObject({ fresh: true, probes: 1, slept: [] });
    expect(await run(3)).toMatchObject({ fresh: true, probes: 3, slept: [25, 50] });
  });

  it("ends two seconds after it began when probes are slow, past it only by the probe in flight", async () => {
    // Each probe takes 300 ms (D1 under load): the gaps shrink to end at the deadline.
    const { fresh, probes, slept, elapsed } = await run(undefined, 300);
    expect(fresh).toBe(false);
    expect(slept).toEqual([25, 50, 100, 200, 125]);
    expect(probes).toBe(6);
    expect(elapsed).toBe(2_300);
  });

  it("starts no probe once the deadline has passed, even with gaps left", async () => {
    const { probes, slept, elapsed } = await run(undefined, 2_500);
    expect(probes).toBe(1);
    expect(slept).toEqual([]);
    expect(elapsed).toBe(2_500);
  });

  it("doubles the gaps and ends the last one exactly at the total wait", () => {
    expect(probeDelays(25, 2_000)).toEqual([25, 50, 100, 200, 400, 800, 425]);
    expect(probeDelays(100, 100)).toEqual([100]);
    expect(probeDelays(0, 3)).toEqual([1, 2]);
  });
});
