// The reference domain's read models as specifications: given these facts, then these rows, on
// real D1 (each scenario under a tenant of its own).
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { describe, it } from "vitest";
import { inventory } from "../src/domain/inventory.js";
import { orders } from "../src/domain/orders.js";
import { inventoryProjection } from "../src/domain/projections/inventory.js";
import { ordersProjection } from "../src/domain/projections/orders.js";
import { fact } from "../src/testing/facts.js";
import { projectionScenario } from "../src/testing/projection-scenario.js";

const db = drizzle(env.DB);

describe("inventory view", () => {
  const history = (sku: string) => [
    fact(inventory, sku, "Restocked", { quantity: 10, source: "manual" }),
    fact(inventory, sku, "Reserved", { orderId: "o1", quantity: 4 }),
    fact(inventory, sku, "Reserved", { orderId: "o2", quantity: 3 }),
    fact(inventory, sku, "Shipped", { orderId: "o1", quantity: 4 }),
    fact(inventory, sku, "Released", { orderId: "o2", quantity: 3 }),
  ];

  it("sums stock on hand, reserved, available and shipped per SKU, at the version of the last fact", async () => {
    const view = await projectionScenario(inventoryProjection, db).given(...history("sku-1"));
    await view.expectRow("sku-1", { onHand: 6, reserved: 0, available: 6, shipped: 4, version: 5 });
  });

  it("folds a run of facts into the same row as applying them one by one", async () => {
    const view = await projectionScenario(inventoryProjection, db).givenAsRun(...history("sku-2"));
    await view.expectRow("sku-2", { onHand: 6, reserved: 0, available: 6, shipped: 4, version: 5 });
  });

  it("lists SKUs in order and has no row for a SKU it never heard of", async () => {
    const view = await projectionScenario(inventoryProjection, db).given(
      fact(inventory, "sku-b", "Restocked", { quantity: 1, source: "manual" }),
      fact(inventory, "sku-a", "Restocked", { quantity: 2, source: "manual" }),
    );
    await view.expectList({}, [
      { sku: "sku-a", onHand: 2 },
      { sku: "sku-b", onHand: 1 },
    ]);
    await view.expectRow("sku-z", null);
  });
});

describe("orders view", () => {
  const created = (orderId: string, customerId: string) =>
    fact(orders, orderId, "OrderCreated", {
      customerId,
      items: [{ sku: "sku-1", quantity: 2, unitPrice: 5 }],
      total: 10,
    });

  it("records a new order as pending with its total and item count", async () => {
    const view = await projectionScenario(ordersProjection, db).given(created("o1", "c1"));
    await view.expectRow("o1", {
      customerId: "c1",
      status: "pending",
      total: 10,
      itemCount: 1,
      reason: null,
      version: 1,
    });
  });

  it("keeps the reason of a cancelled order", async () => {
    const view = await projectionScenario(ordersProjection, db).given(
      created("o2", "c1"),
      fact(orders, "o2", "OrderCancelled", { reason: "changed my mind" }),
    );
    await view.expectRow("o2", { status: "cancelled", reason: "changed my mind", version: 2 });
  });

  it("lists orders by status and by customer", async () => {
    const view = await projectionScenario(ordersProjection, db).given(
      created("o3", "c1"),
      created("o4", "c2"),
      fact(orders, "o4", "OrderConfirmed", { paymentId: "o4" }),
      fact(orders, "o4", "OrderShipped", {}),
    );
    await view.expectList({ status: "shipped" }, [{ orderId: "o4", version: 3 }]);
    await view.expectList({ customerId: "c1" }, [{ orderId: "o3", status: "pending" }]);
  });
});
