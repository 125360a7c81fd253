// Read-your-writes costs a bounded number of D1 queries: a view read presenting a consistency
// token probes the projection's checkpoint on a short doubling schedule, never every 50 ms.
import { describe, expect, it } from "vitest";
import { CONSISTENCY_WAIT, probeDelays, waitUntilApplied } from "../../cloud/projections/read-your-writes.js";

/** Runs the wait with a probe that turns true at probe number `freshAt` (never if undefined). */
async function run(freshAt?: number) {
  let probes = 0;
  const slept: number[] = [];
  const fresh = await waitUntilApplied(
    async () => ++probes === freshAt,
    probeDelays(CONSISTENCY_WAIT.firstMs, CONSISTENCY_WAIT.totalMs),
    async (ms) => {
      slept.push(ms);
    },
  );
  return { fresh, probes, slept };
}

describe("read-your-writes wait", () => {
  it("probes a view that never catches up at most eight times over its two seconds", async () => {
    const { fresh, probes, slept } = await run();
    expect(fresh).toBe(false);
    expect(probes).toBe(8);
    expect(slept.reduce((a, b) => a + b, 0)).toBe(2_000);
  });

  it("stops probing as soon as the view includes the write", async () => {
    expect(await run(1)).toEqual({ fresh: true, probes: 1, slept: [] });
    expect(await run(3)).toEqual({ fresh: true, probes: 3, slept: [25, 50] });
  });

  it("doubles the gaps and ends the last one exactly at the total wait", () => {
    expect(probeDelays(25, 2_000)).toEqual([25, 50, 100, 200, 400, 800, 425]);
    expect(probeDelays(100, 100)).toEqual([100]);
    expect(probeDelays(0, 3)).toEqual([1, 2]);
  });
});
