// The harness's statistics: pure functions over plain numbers (also checked by
// test/unit/bench-stats.test.ts, typechecked for workerd, so they must stay free of Node APIs).

/** The middle value (the mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The p-th percentile (0-100) by the nearest-rank method: the smallest value with at least p% of
 * the values at or below it. NaN when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (p < 0 || p > 100) throw new RangeError(`percentile must be within 0-100, got ${p}`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** value / baseline, rounded to 3 decimals; NaN when the baseline is not positive. */
export function ratio(value: number, baseline: number): number {
  if (!(baseline > 0) || !Number.isFinite(value)) return Number.NaN;
  return Math.round((value / baseline) * 1000) / 1000;
}

/**
 * The median of the per-round ratios values[i] / baselines[i], rounded like `ratio`. Each round
 * runs the value's target and the baseline back to back, so a slowdown of the whole machine
 * that lasts longer than a round (other work on shared cores) moves both sides of a pair alike
 * and cancels, where it would skew a ratio of two medians taken over different rounds.
 */
export function pairedRatio(values: readonly number[], baselines: readonly number[]): number {
  if (values.length !== baselines.length)
    throw new RangeError(`${values.length} values but ${baselines.length} baselines`);
  const pairs = values.map((v, i) => v / (baselines[i] as number)).filter((r) => Number.isFinite(r) && r > 0);
  return pairs.length === 0 ? Number.NaN : Math.round(median(pairs) * 1000) / 1000;
}

/** Rounds to `digits` significant digits for display and results.json, keeping whole-number digits. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}
