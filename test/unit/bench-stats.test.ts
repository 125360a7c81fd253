// The benchmark harness's statistics (bench/stats.ts): pure functions, checked here because the
// figures in docs/performance.md are only as right as the median and percentile behind them.
import { describe, expect, it } from "vitest";
import { median, pairedRatio, percentile, ratio, round } from "../../bench/stats.js";

describe("benchmark statistics", () => {
  it("takes the middle value of an odd count, whatever the input order", () => {
    expect(median([9, 1, 5])).toBe(5);
  });

  it("averages the two middle values of an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("has no median for no values", () => {
    expect(median([])).toBeNaN();
  });

  it("leaves its input unsorted", () => {
    const values = [3, 1, 2];
    median(values);
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });

  it("finds percentiles by nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
  });

  it("gives the single value for any percentile of one sample", () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it("refuses a percentile outside 0-100", () => {
    expect(() => percentile([1, 2], 101)).toThrow(RangeError);
    expect(() => percentile([1, 2], -1)).toThrow(RangeError);
  });

  it("states a ratio to three decimals, and none against a zero baseline", () => {
    expect(ratio(2, 3)).toBe(0.667);
    expect(ratio(5, 0)).toBeNaN();
  });

  it("rounds to significant digits without dropping whole-number digits", () => {
    expect(round(1234.567)).toBe(1235);
    expect(round(12.345)).toBe(12.3);
    expect(round(0.012345)).toBe(0.0123);
    expect(round(0)).toBe(0);
  });

  it("pairs each round's value with the baseline of the same round and takes the median ratio", () => {
    // Round ratios 0.9, 0.8 and 1.0 while the machine's speed halves and recovers.
    expect(pairedRatio([90, 40, 100], [100, 50, 100])).toBe(0.9);
  });

  it("leaves out pairs whose baseline got nothing done, and refuses rounds that do not pair up", () => {
    expect(pairedRatio([80, 90, 10], [100, 100, 0])).toBe(0.85);
    expect(pairedRatio([1], [0])).toBeNaN();
    expect(() => pairedRatio([1, 2], [1])).toThrow(RangeError);
  });
});
