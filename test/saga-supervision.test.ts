// Supervision of sagas through the admin API: a saga whose compensation keeps failing escalates
// to "attention" (listed with its error) instead of spinning, and an operator resolves it by
// retrying; an operator can also turn a running saga round.
import { describe, expect, it } from "vitest";
import { call, eventually, newTenant, tenantClient } from "./support/api.js";
import {
  adminCall,
  gatewayLedger,
  orderAgainstFailingGateway,
  orderEnds,
  readEntity,
  sagaId,
  setGateway,
} from "./support/sagas.js";

interface SagaRow {
  id: string;
  status: string;
  stage: string | null;
  error: string | null;
  resolvable: string[];
}

async function sagaView(id: string): Promise<SagaRow & { log: { type: string }[] }> {
  const res = await adminCall(`/admin/sagas/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as SagaRow & { log: { type: string }[] };
}

describe("saga supervision", () => {
  it("escalates a saga stuck in compensation, lists it with its error, and resolves it on retry", async () => {
    const { tenant, api, id } = await orderAgainstFailingGateway("sup");

    const stuck = await eventually(async () => {
      const res = await adminCall(`/admin/sagas?status=attention&tenant=${tenant.id}`);
      const { items } = (await res.json()) as { items: SagaRow[] };
      return items.find((s) => s.id === id);
    }, 30_000);
    expect(stuck.error).toContain("compensating charge failed");
    // The compensation that stopped it is the one the operator may resolve.
    expect(stuck.resolvable).toEqual(["charge"]);
    expect((await readEntity(api, "orders", "o-1")).state).toMatchObject({ status: "pending" });
    expect((await sagaView(id)).log.map((e) => e.type)).toContain("AttentionNeeded");

    await setGateway(tenant.id, { errorRate: 0 });
    const retried = await adminCall(`/admin/sagas/${id}/retry`, { method: "POST" });
    expect(retried.status).toBe(202);

    expect(await orderEnds(api, "o-1")).toBe("cancelled");
    expect((await readEntity(api, "inventory", "tv")).state).toMatchObject({ onHand: 2, reserved: 0, available: 2 });
    expect((await gatewayLedger(tenant.id)).filter((e) => e.status === "approved" && !e.refunded)).toEqual([]);
    await eventually(async () => ((await sagaView(id)).status === "compensated" ? true : undefined));

    const again = await adminCall(`/admin/sagas/${id}/retry`, { method: "POST" });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({
      type: "https://factline.dev/problems/conflict",
      code: "wrong-status",
      detail: "cannot retry a saga that is compensated",
    });
  });

  it("lets an operator force compensation of a running saga, whose late answers then change nothing", async () => {
    const tenant = await newTenant("sup");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "lamp", "restock", { quantity: 5 });
    await setGateway(tenant.id, { latencyMs: 1_500 });
    await api.command("orders", "o-2", "create", {
      customerId: "c",
      items: [{ sku: "lamp", quantity: 2, unitPrice: 30 }],
    });
    const id = sagaId(tenant.id, "o-2");

    await eventually(async () => {
      const res = await adminCall(`/admin/sagas/${id}`);
      return res.status === 200 && ((await res.json()) as SagaRow).stage === "charge" ? true : undefined;
    });
    const forced = await adminCall(`/admin/sagas/${id}/compensate`, { method: "POST" });
    expect(forced.status).toBe(202);

    expect(await orderEnds(api, "o-2")).toBe("cancelled");
    expect((await readEntity(api, "orders", "o-2")).state).toMatchObject({
      reason: "compensation forced by an operator",
    });
    expect((await readEntity(api, "inventory", "lamp")).state).toMatchObject({ onHand: 5, reserved: 0, available: 5 });
    await eventually(async () => ((await sagaView(id)).status === "compensated" ? true : undefined));
    expect((await gatewayLedger(tenant.id)).filter((e) => e.status === "approved" && !e.refunded)).toEqual([]);
  });

  it("answers an unknown saga with 404 and a malformed id or filter with 400", async () => {
    expect((await adminCall("/admin/sagas/nobody:order-fulfillment:o-1/retry", { method: "POST" })).status).toBe(404);
    expect((await adminCall("/admin/sagas/not-a-saga-id")).status).toBe(400);
    const bad = await adminCall("/admin/sagas?status=sleeping");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
  });

  it("refuses to resolve a task whose compensation did not stop the saga (409 not-pending), a body without its task (400) and an unknown saga (404)", async () => {
    const tenant = await newTenant("sup");
    const api = tenantClient(tenant.apiKey);
    await api.command("inventory", "radio", "restock", { quantity: 2 });
    await api.command("orders", "o-3", "create", {
      customerId: "c",
      items: [{ sku: "radio", quantity: 1, unitPrice: 40 }],
    });
    expect(await orderEnds(api, "o-3")).toBe("shipped");
    const id = sagaId(tenant.id, "o-3");
    const resolve = (saga: string, body: unknown) =>
      adminCall(`/admin/sagas/${saga}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    // Listed with nothing to resolve: an empty list, as its view shows it.
    const listed = await eventually(async () => {
      const res = await adminCall(`/admin/sagas?tenant=${tenant.id}`);
      const { items } = (await res.json()) as { items: SagaRow[] };
      return items.find((s) => s.id === id && s.status === "completed");
    }, 20_000);
    expect(listed.resolvable).toEqual([]);
    const completed = await resolve(id, { task: "charge" });
    expect(completed.status).toBe(409);
    expect(await completed.json()).toMatchObject({ code: "not-pending" });
    expect((await resolve(id, { key: "charge" })).status).toBe(400);
    expect((await resolve("nobody:order-fulfillment:o-1", { task: "charge" })).status).toBe(404);
  });

  it("refuses the saga admin routes without the admin token", async () => {
    expect((await call("/admin/sagas?status=attention")).status).toBe(401);
    expect((await call("/admin/breakers")).status).toBe(401);
  });
});
