// W3C trace context, end to end: the trace id a client sends comes back in the response, is kept
// in the event's metadata, travels on the queue message and shows up in the consumer's log line
// for that fact. The consumer runs in this isolate, so its console output can be captured here.
import { afterEach, describe, expect, it, vi } from "vitest";
import { eventually, newTenant, tenantClient } from "./support/api.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

function logLines(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls.flatMap((args) => {
    try {
      const parsed: unknown = JSON.parse(String(args[0]));
      return typeof parsed === "object" && parsed !== null ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

describe("trace context", () => {
  afterEach(() => vi.restoreAllMocks());

  it("carries one caller's trace id from the command to the consumer's log line for its fact", async () => {
    const log = vi.spyOn(console, "log");
    const tenant = await newTenant("trace");
    const res = await tenantClient(tenant.apiKey).command(
      "inventory",
      "sku-t",
      "restock",
      { quantity: 2 },
      { traceparent: TRACEPARENT },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("traceparent")).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    const page = (await (await tenantClient(tenant.apiKey).get("/v1/entities/inventory/sku-t/events")).json()) as {
      events: { meta: { traceparent: string } }[];
    };
    expect(page.events[0]?.meta.traceparent).toContain(TRACE_ID);

    const applied = await eventually(async () =>
      logLines(log).find((l) => l.msg === "fact applied" && l.tenant === tenant.id && l.entityId === "sku-t"),
    );
    expect(applied).toMatchObject({ traceId: TRACE_ID, seq: 1, eventType: "Restocked" });
  });

  it("starts a new trace when the caller sends none, and logs the request with tenant, entity and ids", async () => {
    const log = vi.spyOn(console, "log");
    const tenant = await newTenant("trace");
    const res = await tenantClient(tenant.apiKey).command(
      "inventory",
      "sku-u",
      "restock",
      { quantity: 1 },
      { "x-request-id": "req-42" },
    );
    const traceId = /^00-([0-9a-f]{32})-/.exec(res.headers.get("traceparent") ?? "")?.[1];
    expect(traceId).toBeDefined();
    const line = logLines(log).find((l) => l.msg === "request" && l.requestId === "req-42");
    expect(line).toMatchObject({
      tenant: tenant.id,
      entityType: "inventory",
      entityId: "sku-u",
      traceId,
      status: 200,
      method: "POST",
    });
  });

  it("starts a new trace for an invalid traceparent (all-zero parent or trace id, version ff) instead of continuing it", async () => {
    const tenant = await newTenant("trace");
    const api = tenantClient(tenant.apiKey);
    const invalid = [
      `00-${TRACE_ID}-0000000000000000-01`,
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      `ff-${TRACE_ID}-00f067aa0ba902b7-01`,
      `00-${TRACE_ID}-00f067aa0ba902b7-01-extra`,
    ];
    for (const [i, traceparent] of invalid.entries()) {
      const res = await api.command("inventory", `sku-bad-${i}`, "restock", { quantity: 1 }, { traceparent });
      expect(res.status).toBe(200);
      expect({ traceparent, answered: res.headers.get("traceparent") }).toEqual({
        traceparent,
        answered: expect.not.stringContaining(TRACE_ID),
      });
      const page = (await (await api.get(`/v1/entities/inventory/sku-bad-${i}/events`)).json()) as {
        events: { meta: { traceparent: string } }[];
      };
      expect(page.events[0]?.meta.traceparent).toMatch(/^00-(?!0{32})[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(page.events[0]?.meta.traceparent).not.toContain(TRACE_ID);
    }
  });

  it("continues a trace sent in a later version with extra fields, answering in version 00", async () => {
    const api = tenantClient((await newTenant("trace")).apiKey);
    const res = await api.command(
      "inventory",
      "sku-v1",
      "restock",
      { quantity: 1 },
      { traceparent: `01-${TRACE_ID}-00f067aa0ba902b7-01-what-comes-next` },
    );
    expect(res.headers.get("traceparent")).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  });
});
