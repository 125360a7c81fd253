// Reading a tenant's metrics back: the minute buckets of a recent window (missing minutes filled
// with zeros, so charts have an even time axis), totals, error rates, latency percentiles from
// the histogram, and queue lag. Served by the admin API and drawn by the dashboard.
import { and, asc, eq, gte } from "drizzle-orm";
import { LATENCY_BOUNDS } from "./metrics-buffer.js";
import type { Db } from "../../src/core/model/projection.js";
import { tenantMetrics as t } from "../schema.js";
import { LATENCY_COLUMNS } from "./metrics-buffer.js";

export interface MinuteMetrics {
  readonly minute: string;
  readonly requests: number;
  readonly commands: number;
  readonly factsRecorded: number;
  readonly factsApplied: number;
  readonly rejections: number;
  readonly errors: number;
  readonly shed: number;
  readonly queueLagMsAvg: number;
  readonly queueLagMsMax: number;
}

export interface TenantMetrics {
  readonly tenant: string;
  readonly windowMinutes: number;
  readonly minutes: readonly MinuteMetrics[];
  readonly totals: {
    readonly requests: number;
    readonly commands: number;
    readonly factsRecorded: number;
    readonly factsApplied: number;
    readonly rejections: number;
    readonly errors: number;
    readonly shed: number;
    /** (rejections + errors + shed) / commands over the window, 0 when idle. */
    readonly errorRate: number;
    /** Facts recorded at the edge but not yet applied in the window: an estimate of the queue backlog. */
    readonly backlogEstimate: number;
  };
  readonly latency: {
    readonly buckets: readonly { readonly leMs: number | null; readonly count: number }[];
    readonly p50Ms: number | null;
    readonly p95Ms: number | null;
  };
  readonly queueLag: { readonly avgMs: number | null; readonly maxMs: number | null };
}

export async function readTenantMetrics(
  db: Db,
  tenant: string,
  windowMinutes: number,
  now = Date.now(),
): Promise<TenantMetrics> {
  const last = Math.floor(now / 60_000);
  const first = last - windowMinutes + 1;
  const rows = await db
    .select()
    .from(t)
    .where(and(eq(t.tenantId, tenant), gte(t.minute, first)))
    .orderBy(asc(t.minute));
  const byMinute = new Map(rows.map((r) => [r.minute, r]));
  const minutes: MinuteMetrics[] = [];
  for (let m = first; m <= last; m++) {
    const r = byMinute.get(m);
    minutes.push({
      minute: new Date(m * 60_000).toISOString(),
      requests: r?.requests ?? 0,
      commands: r?.commands ?? 0,
      factsRecorded: r?.factsRecorded ?? 0,
      factsApplied: r?.factsApplied ?? 0,
      rejections: r?.rejections ?? 0,
      errors: r?.errors ?? 0,
      shed: r?.shed ?? 0,
      queueLagMsAvg: r && r.factsApplied > 0 ? Math.round(r.queueLagMsSum / r.factsApplied) : 0,
      queueLagMsMax: r?.queueLagMsMax ?? 0,
    });
  }
  const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0);
  const commands = sum((r) => r.commands);
  const failures = sum((r) => r.rejections + r.errors + r.shed);
  const applied = sum((r) => r.factsApplied);
  const counts = LATENCY_COLUMNS.map((k) => sum((r) => r[k]));
  return {
    tenant,
    windowMinutes,
    minutes,
    totals: {
      requests: sum((r) => r.requests),
      commands,
      factsRecorded: sum((r) => r.factsRecorded),
      factsApplied: applied,
      rejections: sum((r) => r.rejections),
      errors: sum((r) => r.errors),
      shed: sum((r) => r.shed),
      errorRate: commands === 0 ? 0 : Math.min(1, failures / commands),
      backlogEstimate: Math.max(0, sum((r) => r.factsRecorded) - applied),
    },
    latency: {
      buckets: LATENCY_BOUNDS.map((b, i) => ({ leMs: Number.isFinite(b) ? b : null, count: counts[i] ?? 0 })),
      p50Ms: percentile(counts, 0.5),
      p95Ms: percentile(counts, 0.95),
    },
    queueLag: {
      avgMs: applied === 0 ? null : Math.round(sum((r) => r.queueLagMsSum) / applied),
      maxMs: rows.length === 0 ? null : Math.max(...rows.map((r) => r.queueLagMsMax)),
    },
  };
}

/** The upper bound of the bucket holding the q-quantile (null if no samples or beyond 1 s). */
function percentile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= q * total) {
      const bound = LATENCY_BOUNDS[i];
      return bound !== undefined && Number.isFinite(bound) ? bound : null;
    }
  }
  return null;
}
