// The order-fulfillment saga through real bindings: facts travel from the entities through the
// queue to the saga's own object, which drives the entities and the (simulated) payment gateway.
import { describe, expect, it } from "vitest";
import { eventually, newTenant, tenantClient } from "./support/api.js";
import { gatewayLedger, orderEnds, readEntity, setGateway } from "./support/sagas.js";

async function stocked(skus: Record<string, number>) {
  const tenant = await newTenant("saga");
  const api = tenantClient(tenant.apiKey);
  for (const [sku, quantity] of Object.entries(skus)) {
    expect((await api.command("inventory", sku, "restock", { quantity })).status).toBe(200);
  }
  return { tenant, api };
}

describe("order fulfillment", () => {
  it("ships an order: stock moves from available to shipped and the views agree", async () => {
    const { tenant, api } = await stocked({ apple: 10, pear: 5 });
    const created = await api.command("orders", "o-1", "create", {
      customerId: "c-1",
      items: [
        { sku: "apple", quantity: 3, unitPrice: 2 },
        { sku: "pear", quantity: 1, unitPrice: 5 },
      ],
    });
    expect(created.status).toBe(200);

    expect(await orderEnds(api, "o-1")).toBe("shipped");
    expect((await readEntity(api, "inventory", "apple")).state).toMatchObject({ onHand: 7, reserved: 0, available: 7, shipped: 3 });
    expect((await readEntity(api, "inventory", "pear")).state).toMatchObject({ onHand: 4, reserved: 0, available: 4, shipped: 1 });
    expect((await readEntity(api, "payments", "o-1")).state).toMatchObject({ status: "approved", amount: 11 });

    const ledger = await gatewayLedger(tenant.id);
    expect(ledger).toMatchObject([{ reference: "o-1", amount: 11, status: "approved", refunded: false }]);

    const order = await eventually(async () => {
      const row = (await (await api.get("/v1/views/orders/o-1")).json()) as { status?: string };
      return row.status === "shipped" ? row : undefined;
    });
    expect(order).toMatchObject({ orderId: "o-1", status: "shipped" });
    const apple = await eventually(async () => {
      const row = (await (await api.get("/v1/views/inventory/apple")).json()) as { shipped?: number };
      return row.shipped === 3 ? row : undefined;
    });
    expect(apple).toMatchObject({ onHand: 7, reserved: 0, available: 7, shipped: 3 });
  });

  it("cancels an order whose reservation is rejected and releases what was reserved", async () => {
    const { api } = await stocked({ apple: 10, pear: 1 });
    await api.command("orders", "o-2", "create", {
      customerId: "c-1",
      items: [
        { sku: "apple", quantity: 4, unitPrice: 1 },
        { sku: "pear", quantity: 2, unitPrice: 1 },
      ],
    });
    expect(await orderEnds(api, "o-2")).toBe("cancelled");
    const { state } = await readEntity(api, "orders", "o-2");
    expect(String(state["reason"])).toContain("insufficient-stock");
    expect((await readEntity(api, "inventory", "apple")).state).toMatchObject({ onHand: 10, reserved: 0, available: 10, shipped: 0 });
    expect((await readEntity(api, "inventory", "pear")).state).toMatchObject({ onHand: 1, reserved: 0, available: 1 });
  });

  it("cancels an order whose payment is declined, releasing its stock and charging nothing", async () => {
    const { tenant, api } = await stocked({ tv: 3 });
    await setGateway(tenant.id, { declineAbove: 500 });
    await api.command("orders", "o-3", "create", { customerId: "c-1", items: [{ sku: "tv", quantity: 1, unitPrice: 900 }] });

    expect(await orderEnds(api, "o-3")).toBe("cancelled");
    expect((await readEntity(api, "payments", "o-3")).state).toMatchObject({ status: "declined" });
    expect((await readEntity(api, "inventory", "tv")).state).toMatchObject({ onHand: 3, reserved: 0, available: 3 });
    const ledger = await gatewayLedger(tenant.id);
    expect(ledger.filter((e) => e.status === "approved" && !e.refunded)).toEqual([]);
  });
});
