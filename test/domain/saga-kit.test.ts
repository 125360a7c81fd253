// The saga kit holds an app's saga to the rules the runtime holds it to, so a saga test that
// passes does not hide a delivery the consumer would refuse.
import { describe, expect, it } from "vitest";
import { defineSaga } from "../../src/core/model/saga.js";
import { inventory } from "../../src/domain/inventory.js";
import { orders } from "../../src/domain/orders.js";
import { fact } from "../../src/testing/facts.js";
import { sagaScenario } from "../../src/testing/saga-scenario.js";

// A saga whose instance key joins two ids, each valid alone: together they can pass 128 characters.
const perCustomerOrder = defineSaga(
  orders,
  inventory,
)({
  name: "per-customer-order",
  instanceOf: (f) =>
    f.meta.entityType === "orders" && f.type === "OrderCreated" ? `${f.data.customerId}.${f.meta.entityId}` : null,
  startedBy: { entityType: "orders", eventType: "OrderCreated" },
  start: (f) => ({ orderId: f.meta.entityId }),
  stages: [{ name: "reserve", timeoutMs: 1000, tasks: () => [] }],
  finallyCompensate: () => [],
});

const created = (customerId: string, orderId: string) =>
  fact(orders, orderId, "OrderCreated", { customerId, items: [{ sku: "s1", quantity: 1, unitPrice: 1 }], total: 1 });

describe("the saga kit", () => {
  it("delivers a fact to the instance its saga names when the key is an entity id", () => {
    const run = sagaScenario(perCustomerOrder).given(created("c1", "o1"));
    expect(run.state.status).not.toBe("new");
  });

  it("fails a fact whose instance key the consumer would refuse, with the consumer's error", () => {
    const given = () => sagaScenario(perCustomerOrder).given(created("c".repeat(100), "o".repeat(100)));
    expect(given).toThrow(/names instance "c+.*\(201 characters\).*an instance key is 1-128 of/);
  });
});
