// A tenant gate's token buckets (src/core/resilience/token-bucket.ts), one per limit it was set to:
// what a limit set again, or changed, starts with.
import { describe, expect, it } from "vitest";
import { LimitBuckets } from "../../src/core/resilience/token-bucket.js";

const T0 = 1_767_225_600_000;
const slow = { requestsPerSecond: 0.001, burst: 1 };

describe("a gate's limit buckets", () => {
  it("go on with the bucket a limit left when the same limit is set again, so no fresh burst is handed out", () => {
    const buckets = new LimitBuckets();
    expect(buckets.lease(slow, 1, T0).granted).toBe(1);
    // Lifted and set again a second later: the gate is asked under the same limit.
    const again = buckets.lease({ ...slow }, 1, T0 + 1_000);
    expect(again.granted).toBe(0);
    expect(again.retryAfter).toBeGreaterThan(900);
  });

  it("start a full bucket for a limit with another rate or burst", () => {
    const buckets = new LimitBuckets();
    buckets.lease(slow, 1, T0);
    expect(buckets.lease({ ...slow, burst: 50 }, 50, T0 + 1_000).granted).toBe(50);
  });
});
