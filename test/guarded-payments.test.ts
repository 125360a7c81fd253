// Guarded calls to the payment gateway through real bindings: the breaker shared in its own
// object opens under sustained failure, fails fast while open (the gateway sees no calls and the
// tenant gets 503 with Retry-After), and closes after a successful half-open probe, never on
// the late success of a call it admitted before it opened.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { breakerFor, guardedCall } from "../cloud/sagas/guarded-call.js";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";
import { adminCall, gatewayCalls, readEntity, setGateway } from "./support/sagas.js";

interface BreakerItem {
  name: string;
  state: { status: string };
  transitions: { from: string; to: string; reason: string }[];
}

async function breakerOf(name: string): Promise<BreakerItem | undefined> {
  const res = await adminCall("/admin/breakers");
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: BreakerItem[] }).items.find((b) => b.name === name);
}

describe("guarded payment gateway calls", () => {
  it("settles a submitted payment directly through the gateway", async () => {
    const { api, direct } = await settleNewPayment("pay");
    expect(direct.status).toBe(200);
    expect(await direct.json()).toMatchObject({
      payment: { status: "approved", gatewayRef: expect.stringMatching(/^gw_/), reason: null },
    });
    expect((await readEntity(api, "payments", "p-1")).state).toMatchObject({ status: "approved" });
  });

  it("answers a settle's events as a command's: without the metadata that echoes the request", async () => {
    const { direct } = await settleNewPayment("pay-shape");
    expect(direct.status).toBe(200);
    const { events } = (await direct.json()) as { events: { meta: Record<string, unknown> }[] };
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) expect(Object.keys(event.meta).sort()).toEqual(["eventId", "hlc", "recordedAt"]);
  });

  it("opens under sustained failure, fails fast while open, and closes after a successful probe", async () => {
    const tenant = await newTenant("brk");
    const api = tenantClient(tenant.apiKey);
    const breaker = `payment-gateway:${tenant.id}`;
    await api.command("payments", "p-1", "submit", { orderId: "o-1", amount: 20, currency: "EUR" });
    await setGateway(tenant.id, { errorRate: 1 });

    // Each settle makes up to 3 guarded attempts; the breaker opens after 10 failures in a row.
    // Once it is open, a settle fails fast: 503 with Retry-After, and the gateway sees no call.
    const failed = await eventually(async () => {
      const before = await gatewayCalls(tenant.id);
      const res = await callSettle(tenant.apiKey, "p-1");
      const touched = (await gatewayCalls(tenant.id)) - before;
      expect(res.status).toBe(503);
      const body = (await res.json()) as { type: string; detail: string };
      return body.detail.includes("circuit breaker is open") && touched === 0 ? { res, body } : undefined;
    });
    expect(failed.body.type).toBe("https://factline.dev/problems/dependency-unavailable");
    expect(Number(failed.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await breakerOf(breaker))?.transitions.some((t) => t.from === "closed" && t.to === "open")).toBe(true);

    await setGateway(tenant.id, { errorRate: 0 });
    const ok = await eventually(async () => {
      const res = await callSettle(tenant.apiKey, "p-1");
      return res.status === 200 ? res : undefined;
    });
    expect(ok.status).toBe(200);
    expect((await readEntity(api, "payments", "p-1")).state).toMatchObject({ status: "approved" });
    const closed = await breakerOf(breaker);
    expect(closed?.state.status).toBe("closed");
    const path = [...(closed?.transitions ?? [])].reverse().map((t) => `${t.from}->${t.to}`);
    // Probes that failed while the gateway was still down may sit in between.
    expect(path[0]).toBe("closed->open");
    expect(path.slice(-2)).toEqual(["open->half-open", "half-open->closed"]);
  });

  it("stays open when a call it admitted before opening succeeds after it opened", async () => {
    const name = `late-success:${crypto.randomUUID()}`;
    const breaker = breakerFor(env, name);
    let answer: (value: string) => void = () => {};
    let admitted = false;
    const slow = new Promise<string>((resolve) => {
      answer = resolve;
    });
    // Admitted while closed; its answer is held back until the breaker has opened.
    const inFlight = guardedCall(
      breaker,
      () => {
        admitted = true;
        return slow;
      },
      { timeoutMs: 10_000, attempts: 1, backoff: { baseMs: 1, maxMs: 1 } },
    );
    await eventually(async () => (admitted ? true : undefined));
    // BREAKER_FAILURE_THRESHOLD is 10 in the test pool: other calls' failures open it.
    for (let i = 0; i < 10; i++) await breaker.report(name, false, "503", null);
    expect((await breaker.inspect(name)).state.status).toBe("open");

    answer("approved");
    expect(await inFlight).toEqual({ ok: true, value: "approved" });
    const after = await breaker.inspect(name);
    expect(after.state.status).toBe("open");
    expect(after.transitions.map((t) => `${t.from}->${t.to}`)).toEqual(["closed->open"]);
  });

  it("answers a payment that is not submitted with 422 and an unknown one with 404", async () => {
    const tenant = await newTenant("pay");
    expect((await callSettle(tenant.apiKey, "nope")).status).toBe(404);
    const api = tenantClient(tenant.apiKey);
    await api.command("payments", "p-2", "submit", { orderId: "o-2", amount: 5, currency: "EUR" });
    expect((await callSettle(tenant.apiKey, "p-2")).status).toBe(200);
    const again = await callSettle(tenant.apiKey, "p-2");
    expect(again.status).toBe(422);
    expect(((await again.json()) as { code: string }).code).toBe("not-submitted");
  });
});

/** A new tenant's payment p-1 (20 EUR), submitted, then settled directly: the settle's answer. */
async function settleNewPayment(tenantPrefix: string) {
  const tenant = await newTenant(tenantPrefix);
  const api = tenantClient(tenant.apiKey);
  await api.command("payments", "p-1", "submit", { orderId: "o-1", amount: 20, currency: "EUR" });
  return { api, direct: await callSettle(tenant.apiKey, "p-1") };
}

function callSettle(apiKey: string, paymentId: string): Promise<Response> {
  return call(`/v1/payments/${paymentId}/settle`, { method: "POST", headers: { authorization: `Bearer ${apiKey}` } });
}
