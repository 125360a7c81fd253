// The order-fulfillment saga as a specification, on the pure saga machine: given these facts,
// then these commands; given this refusal or failure, then this compensation.
import { describe, expect, it } from "vitest";
import { inventory } from "../../src/domain/inventory.js";
import { orderFulfillment } from "../../src/domain/order-fulfillment.js";
import { orders } from "../../src/domain/orders.js";
import { paymentChargeKey } from "../../src/domain/payments.js";
import { fact } from "../../src/testing/facts.js";
import { sagaScenario } from "../../src/testing/saga-scenario.js";

const line = (sku: string, quantity: number, unitPrice: number) => ({ sku, quantity, unitPrice });
const created = (orderId: string, items: ReturnType<typeof line>[]) =>
  fact(orders, orderId, "OrderCreated", {
    customerId: "c1",
    items,
    total: items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0),
  });
const reserve = (sku: string, orderId: string, quantity: number) =>
  ({
    kind: "command",
    entityType: "inventory",
    entityId: sku,
    command: "reserve",
    data: { orderId, quantity },
  }) as const;
const release = (sku: string, orderId: string) =>
  ({ kind: "command", entityType: "inventory", entityId: sku, command: "release", data: { orderId } }) as const;
const ship = (sku: string, orderId: string) =>
  ({ kind: "command", entityType: "inventory", entityId: sku, command: "ship", data: { orderId } }) as const;
const refund = (orderId: string) =>
  ({
    kind: "call",
    service: "payment-gateway",
    operation: "refund",
    data: { chargeKey: paymentChargeKey(orderId), paymentId: orderId, reason: "the order was not fulfilled" },
  }) as const;
const cancel = (orderId: string, reason: string) =>
  ({ kind: "command", entityType: "orders", entityId: orderId, command: "cancel", data: { reason } }) as const;

describe("order fulfilment saga", () => {
  it("reserves every line of a new order, in parallel", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 2, 5), line("sku-b", 1, 10)]))
      .expectStatus("running")
      .expectCommands(reserve("sku-a", "o1", 2), reserve("sku-b", "o1", 1));
  });

  it("ignores facts of an order it was never started for", () => {
    sagaScenario(orderFulfillment)
      .given(fact(inventory, "sku-a", "Reserved", { orderId: "o9", quantity: 1 }))
      .expectStatus("new")
      .expectCommands();
  });

  it("routes stock movements to their order's instance, and a restock or another entity type's fact to none", () => {
    const orderCreated = created("o1", [line("sku-a", 1, 1)]);
    expect(orderFulfillment.instanceOf(fact(inventory, "sku-a", "Reserved", { orderId: "o1", quantity: 1 }))).toBe(
      "o1",
    );
    expect(
      orderFulfillment.instanceOf(fact(inventory, "sku-a", "Restocked", { quantity: 1, source: "manual" })),
    ).toBeNull();
    expect(orderFulfillment.instanceOf(orderCreated)).toBe("o1");
    expect(
      orderFulfillment.instanceOf({ ...orderCreated, meta: { ...orderCreated.meta, entityType: "customers" } }),
    ).toBeNull();
  });

  it("submits the payment once every line is reserved, then claims its settlement", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 2, 5)]))
      .whenDone("reserve:sku-a")
      .expectCommands({
        kind: "command",
        entityType: "payments",
        entityId: "o1",
        command: "submit",
        data: { orderId: "o1", amount: 10, currency: "EUR" },
      })
      .whenDone("submit-payment")
      .expectCommands({
        kind: "command",
        entityType: "payments",
        entityId: "o1",
        command: "settle",
        data: { chargeKey: paymentChargeKey("o1") },
      });
  });

  it("skips payment for an order that costs nothing and confirms it with no payment", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 1, 0)]))
      .whenDone("reserve:sku-a")
      .expectCommands({
        kind: "command",
        entityType: "orders",
        entityId: "o1",
        command: "confirm",
        data: { paymentId: null },
      });
  });

  it("releases every line, newest stage first, then cancels the order when a reservation is refused", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 2, 5), line("sku-b", 1, 10)]))
      .whenDone("reserve:sku-a")
      .whenRejected("reserve:sku-b", "insufficient-stock")
      .expectStatus("compensating")
      .expectCompensations(release("sku-a", "o1"), release("sku-b", "o1"))
      .whenAllDone()
      .expectCompensations(refund("o1"), cancel("o1", "reserve:sku-b was rejected: insufficient-stock"))
      .whenAllDone()
      .expectStatus("compensated");
  });

  it("turns round once a reservation has failed as many times as the retry policy allows", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 2, 5)]))
      .whenFailed("reserve:sku-a")
      .expectCommands()
      .after(100)
      .expectCommands(reserve("sku-a", "o1", 2))
      .whenFailed("reserve:sku-a")
      .after(100)
      .whenFailed("reserve:sku-a")
      .expectCompensations(release("sku-a", "o1"));
  });

  it("turns round when the order is cancelled before it is confirmed", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 2, 5)]), fact(orders, "o1", "OrderCancelled", { reason: "changed my mind" }))
      .expectCompensations(release("sku-a", "o1"));
  });

  it("carries on when a fact's type names an Object.prototype member instead of an abort handler", () => {
    const odd = { ...fact(orders, "o1", "OrderCancelled", { reason: "x" }), type: "constructor" };
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 2, 5)]), odd)
      .expectStatus("running")
      .expectCommands(reserve("sku-a", "o1", 2));
  });

  it("refunds the charge first when the gateway declines it, then releases the stock and closes the payment", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 1, 10)]))
      .whenDone("reserve:sku-a")
      .whenDone("submit-payment")
      .whenDone("claim-payment")
      .whenCallRejected("charge", "card declined")
      .expectCompensations(refund("o1"))
      .whenAllDone()
      .expectCompensations(release("sku-a", "o1"))
      .whenAllDone()
      .expectCompensations(refund("o1"), cancel("o1", "charge was rejected: card declined"))
      .whenAllDone()
      .expectStatus("compensated");
  });

  it("refunds the payment of an order cancelled before the saga reached its payment, whoever charged it", () => {
    // The settle route may charge a payment submitted ahead of its order: the saga never saw it.
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 1, 10)]), fact(orders, "o1", "OrderCancelled", { reason: "changed my mind" }))
      .expectCompensations(release("sku-a", "o1"))
      .whenAllDone()
      .expectCompensations(refund("o1"), cancel("o1", "the order was cancelled"));
  });

  it("once the order is confirmed, retries a failing shipment and escalates to an operator instead of compensating", () => {
    sagaScenario(orderFulfillment)
      .given(created("o1", [line("sku-a", 1, 0)]))
      .whenDone("reserve:sku-a")
      .whenDone("confirm-order")
      .expectCommands(ship("sku-a", "o1"))
      .whenFailed("ship:sku-a")
      .after(100)
      .whenFailed("ship:sku-a")
      .after(100)
      .whenFailed("ship:sku-a")
      .expectStatus("attention")
      .expectCompensations();
  });
});
