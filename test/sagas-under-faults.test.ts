// The order-fulfillment saga under a faulty payment gateway: half of all calls fail (half of
// those after the gateway acted, so the answer is lost) and the rest are slow. However it goes,
// every order ends shipped or cancelled, stock is conserved and no payment is charged twice.
import { describe, expect, it } from "vitest";
import { eventually, newTenant, tenantClient } from "./support/api.js";
import { adminCall, gatewayLedger, readEntity, setGateway } from "./support/sagas.js";

// 100 orders end in ~30 s on the 2-core test machine when it is quiet; with four other suites
// running beside it (load average 8) it took ~95 s and once more than 150 s, more charges timing
// out, hence the margins.
const ORDERS = 100;
const SKUS = ["s1", "s2", "s3", "s4", "s5"];
const STOCK = 50;

describe("order fulfillment under a failing, slow payment gateway", () => {
  it(`ends each of ${ORDERS} orders shipped or cancelled, conserving stock and charging at most once`, async () => {
    const tenant = await newTenant("load");
    const api = tenantClient(tenant.apiKey);
    for (const sku of SKUS)
      expect((await api.command("inventory", sku, "restock", { quantity: STOCK })).status).toBe(200);
    await setGateway(tenant.id, { errorRate: 0.5, latencyMs: 20, latencyJitterMs: 150 });

    // A fixed pattern of one or two lines of 1-3 units: about 300 units wanted, 250 in stock.
    const orders = Array.from({ length: ORDERS }, (_, i) => {
      const lines = [{ sku: SKUS[i % 5] ?? "s1", quantity: 1 + (i % 3), unitPrice: 10 }];
      if (i % 2 === 0) lines.push({ sku: SKUS[(i + 2) % 5] ?? "s3", quantity: 1 + ((i >> 1) % 2), unitPrice: 4 });
      return { id: `o-${i}`, lines };
    });
    for (let i = 0; i < orders.length; i += 10) {
      const created = await Promise.all(
        orders.slice(i, i + 10).map((o) => api.command("orders", o.id, "create", { customerId: "c", items: o.lines })),
      );
      expect(created.map((r) => r.status)).toEqual(created.map(() => 200));
    }

    let retried = 0;
    await eventually(async () => {
      const res = await adminCall(`/admin/sagas?tenant=${tenant.id}&limit=500`);
      const { items } = (await res.json()) as { items: { id: string; status: string }[] };
      // The operator's part: a compensation failing SAGA_COMPENSATION_MAX_ATTEMPTS (12) times in a
      // row stops its saga for attention. At a 50 % error rate that is a 1-in-4,096 run per
      // compensation, likelier when a loaded machine times calls out; retrying it is what an
      // operator does, and the invariants below must hold across it.
      for (const stuck of items.filter((s) => s.status === "attention")) {
        const answer = await adminCall(`/admin/sagas/${stuck.id}/retry`, { method: "POST" });
        expect(answer.status).toBe(202);
        retried++;
      }
      const ended = items.filter((s) => s.status === "completed" || s.status === "compensated").length;
      // Poll gently: D1 serves one query at a time and the sagas need it too.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return ended === ORDERS ? ended : undefined;
    }, 240_000);

    const status = new Map<string, string>();
    for (const o of orders) status.set(o.id, String((await readEntity(api, "orders", o.id)).state["status"]));
    expect([...status.values()].every((s) => s === "shipped" || s === "cancelled")).toBe(true);

    for (const sku of SKUS) {
      const { state } = await readEntity(api, "inventory", sku);
      const shippedByOrders = orders
        .filter((o) => status.get(o.id) === "shipped")
        .flatMap((o) => o.lines)
        .filter((l) => l.sku === sku)
        .reduce((sum, l) => sum + l.quantity, 0);
      expect(state).toMatchObject({
        reserved: 0,
        reservations: {},
        shipped: shippedByOrders,
        onHand: STOCK - shippedByOrders,
      });
    }

    const ledger = await gatewayLedger(tenant.id);
    for (const o of orders) {
      const charges = ledger.filter((e) => e.reference === o.id && e.status === "approved");
      expect(charges.length).toBeLessThanOrEqual(1);
      const kept = charges.filter((e) => !e.refunded).length;
      expect(kept).toBe(status.get(o.id) === "shipped" ? 1 : 0);
    }
    const shipped = [...status.values()].filter((s) => s === "shipped").length;
    console.log(
      JSON.stringify({ orders: ORDERS, shipped, cancelled: ORDERS - shipped, ledgerEntries: ledger.length, retried }),
    );
  }, 300_000);
});
