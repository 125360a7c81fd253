// Per-tenant metrics: requests are counted per isolate, flushed to D1 minute buckets, and read
// back through the admin API with totals, error rate, latency histogram and queue lag.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { scheduleMetricsFlush } from "../cloud/metrics/metrics-buffer.js";
import { ADMIN_TOKEN, call, eventually, newTenant, tenantClient } from "./support/api.js";

interface Metrics {
  totals: { commands: number; factsRecorded: number; factsApplied: number; rejections: number; errorRate: number };
  latency: { buckets: { count: number }[] };
  queueLag: { avgMs: number | null };
  minutes: unknown[];
}

function metricsOf(tenant: string, query = "") {
  return call(`/admin/tenants/${tenant}/metrics${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
}

describe("tenant metrics", () => {
  it("counts commands, recorded and applied facts, and rejections for the tenant that sent them", async () => {
    const tenant = await newTenant("metrics");
    const other = await newTenant("metrics");
    const api = tenantClient(tenant.apiKey);
    expect((await api.command("inventory", "sku-m", "restock", { quantity: 3 })).status).toBe(200);
    expect((await api.command("inventory", "sku-m", "reserve", { orderId: "o-1", quantity: 99 })).status).toBe(422);

    const m = await eventually(async () => {
      const body = (await (await metricsOf(tenant.id)).json()) as Metrics;
      return body.totals.commands === 2 && body.totals.factsApplied === 1 ? body : undefined;
    });
    expect(m.totals).toMatchObject({ commands: 2, factsRecorded: 1, factsApplied: 1, rejections: 1, errorRate: 0.5 });
    expect(m.latency.buckets.reduce((s, b) => s + b.count, 0)).toBe(2);
    expect(m.queueLag.avgMs).not.toBeNull();
    expect(m.minutes).toHaveLength(60);

    const quiet = (await (await metricsOf(other.id)).json()) as Metrics;
    expect(quiet.totals.commands).toBe(0);
  });

  it("answers 404 for an unknown tenant and 400 for a bad window", async () => {
    expect((await metricsOf("no-such-tenant")).status).toBe(404);
    const tenant = await newTenant("metrics");
    const bad = await metricsOf(tenant.id, "?minutes=0");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
  });

  it("gives the flush to keep alive only to the request that scheduled it, so no request waits on another's timer", async () => {
    let first = scheduleMetricsFlush(env.DB);
    // A request of another test may have scheduled one already: wait for a turn of our own.
    while (!first) {
      await scheduler.wait(100);
      first = scheduleMetricsFlush(env.DB);
    }
    expect(scheduleMetricsFlush(env.DB)).toBeUndefined();
    await first;
    const next = scheduleMetricsFlush(env.DB);
    expect(next).toBeInstanceOf(Promise);
    await next;
  });

  it("requires the admin token", async () => {
    const tenant = await newTenant("metrics");
    expect((await call(`/admin/tenants/${tenant.id}/metrics`)).status).toBe(401);
  });
});
