// Per-tenant metrics on the hot path: each isolate adds samples to an in-memory aggregate (no
// I/O), and one delayed flush per isolate adds the aggregate to the D1 minute buckets, run in
// `waitUntil` so no response waits on it. A failed flush puts its counts back for the next one.
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { logEvent } from "../../src/core/runtime/log.js";
import type { Db } from "../../src/core/model/projection.js";
import { tenantMetrics as t } from "../schema.js";

/** Upper bounds (ms) of the latency histogram's buckets, matching the `latLe*` columns. */
export const LATENCY_BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000, Infinity] as const;
/** The `latLe*` columns of tenant_metrics, one per bucket of LATENCY_BOUNDS. */
export const LATENCY_COLUMNS = [
  "latLe5",
  "latLe10",
  "latLe25",
  "latLe50",
  "latLe100",
  "latLe250",
  "latLe500",
  "latLe1000",
  "latLeInf",
] as const;
const FLUSH_DELAY_MS = 1_000;

type Row = typeof t.$inferInsert & { tenantId: string; minute: number };
type Counter = Exclude<keyof Row, "tenantId" | "minute">;

export interface RequestSample {
  readonly tenant: string;
  readonly isCommand: boolean;
  readonly status: number;
  readonly durationMs: number;
  readonly factsRecorded: number;
}

const pending = new Map<string, Row>();
let scheduled: Promise<void> | undefined;

function bucket(tenant: string, at: number): Row {
  const minute = Math.floor(at / 60_000);
  const key = `${tenant}|${minute}`;
  let row = pending.get(key);
  if (!row) {
    row = { tenantId: tenant, minute };
    pending.set(key, row);
  }
  return row;
}

function add(row: Row, counter: Counter, by = 1): void {
  row[counter] = (row[counter] ?? 0) + by;
}

/** One tenant API request: commands, rejections (4xx), shed (429), errors (5xx), latency. */
export function recordRequest(s: RequestSample, at = Date.now()): void {
  const row = bucket(s.tenant, at);
  add(row, "requests");
  if (s.isCommand) add(row, "commands");
  if (s.factsRecorded > 0) add(row, "factsRecorded", s.factsRecorded);
  if (s.status === 429) add(row, "shed");
  else if (s.status >= 500) add(row, "errors");
  else if (s.isCommand && s.status >= 400) add(row, "rejections");
  const i = LATENCY_BOUNDS.findIndex((bound) => s.durationMs <= bound);
  add(row, LATENCY_COLUMNS[i] ?? "latLeInf");
}

/** One fact applied by the consumer, `lagMs` after it was recorded at the edge. */
export function recordFactApplied(tenant: string, lagMs: number, at = Date.now()): void {
  const row = bucket(tenant, at);
  const lag = Math.max(0, Math.round(lagMs));
  add(row, "factsApplied");
  add(row, "queueLagMsSum", lag);
  row.queueLagMsMax = Math.max(row.queueLagMsMax ?? 0, lag);
}

/**
 * Schedules a flush of what this isolate gathered, after a short delay that batches requests
 * together. Only the request that schedules it gets the flush to keep alive (in `waitUntil`); the
 * others get nothing: the flush runs on the scheduling request's timer, and a request that waits
 * on another request's I/O is cancelled by workerd as hung (and logs an error for it).
 */
export function scheduleMetricsFlush(database: D1Database): Promise<void> | undefined {
  if (scheduled) return undefined;
  scheduled = new Promise<void>((resolve) => setTimeout(resolve, FLUSH_DELAY_MS)).then(() => {
    scheduled = undefined;
    return flush(drizzle(database));
  });
  return scheduled;
}

/**
 * Flushes what this isolate gathered now. For the queue consumer: a batch already gathers up to
 * 100 facts, and a delayed flush in its waitUntil would hold the batch open (and the queue's next
 * delivery back) for the whole delay.
 */
export function flushMetricsNow(database: D1Database): Promise<void> {
  return flush(drizzle(database));
}

async function flush(db: Db): Promise<void> {
  const rows = [...pending.values()];
  pending.clear();
  const [first, ...rest] = rows.map((row) =>
    db
      .insert(t)
      .values(row)
      .onConflictDoUpdate({
        target: [t.tenantId, t.minute],
        set: {
          requests: sql`${t.requests} + excluded.requests`,
          commands: sql`${t.commands} + excluded.commands`,
          factsRecorded: sql`${t.factsRecorded} + excluded.facts_recorded`,
          factsApplied: sql`${t.factsApplied} + excluded.facts_applied`,
          rejections: sql`${t.rejections} + excluded.rejections`,
          errors: sql`${t.errors} + excluded.errors`,
          shed: sql`${t.shed} + excluded.shed`,
          queueLagMsSum: sql`${t.queueLagMsSum} + excluded.queue_lag_ms_sum`,
          queueLagMsMax: sql`max(${t.queueLagMsMax}, excluded.queue_lag_ms_max)`,
          latLe5: sql`${t.latLe5} + excluded.lat_le_5`,
          latLe10: sql`${t.latLe10} + excluded.lat_le_10`,
          latLe25: sql`${t.latLe25} + excluded.lat_le_25`,
          latLe50: sql`${t.latLe50} + excluded.lat_le_50`,
          latLe100: sql`${t.latLe100} + excluded.lat_le_100`,
          latLe250: sql`${t.latLe250} + excluded.lat_le_250`,
          latLe500: sql`${t.latLe500} + excluded.lat_le_500`,
          latLe1000: sql`${t.latLe1000} + excluded.lat_le_1000`,
          latLeInf: sql`${t.latLeInf} + excluded.lat_le_inf`,
        },
      }),
  );
  if (!first) return;
  try {
    await db.batch([first, ...rest]);
  } catch (error) {
    // Metrics must never fail a request; keep the counts for the next flush instead.
    for (const row of rows) merge(row);
    logEvent("warn", "metrics flush failed", {
      error: error instanceof Error ? error.message : String(error),
      rows: rows.length,
    });
  }
}

function merge(row: Row): void {
  const into = bucket(row.tenantId, row.minute * 60_000);
  for (const [k, v] of Object.entries(row)) {
    if (k === "tenantId" || k === "minute" || typeof v !== "number") continue;
    if (k === "queueLagMsMax") into.queueLagMsMax = Math.max(into.queueLagMsMax ?? 0, v);
    else add(into, k as Counter, v);
  }
}
